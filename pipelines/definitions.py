"""The single Definitions object: every asset, check, job, schedule and resource."""

from __future__ import annotations

import os

import dagster as dg

from pipelines.resources import DUCKDB_FILE_TAG, apply_default_environment, build_resources

apply_default_environment()

from pipelines.assets.ingest import crm_contacts, daily_partitions, ingest_assets  # noqa: E402
from pipelines.assets.journey_map import (  # noqa: E402
    journey_maps,
    monthly_snapshot,
    monthly_snapshot_schedule,
)
from pipelines.assets.journey_models import journey_models  # noqa: E402
from pipelines.assets.mining import mining_assets  # noqa: E402
from pipelines.assets.transforms import transforms  # noqa: E402
from pipelines.progress import progress_logger  # noqa: E402
from pipelines.sensors import landing_files_sensor  # noqa: E402

_writer_tags = {DUCKDB_FILE_TAG: os.environ["JOURNEYMAP_DUCKDB"]}

ingest_job = dg.define_asset_job(
    "ingest_daily",
    selection=dg.AssetSelection.assets(*ingest_assets),
    partitions_def=daily_partitions,
    description="Load one or more event days from the landing folder into raw.*.",
    tags=_writer_tags,
)

refresh_job = dg.define_asset_job(
    "refresh",
    selection=dg.AssetSelection.all() - dg.AssetSelection.assets(*ingest_assets),
    description="Contacts, journey models, every dbt model and test, the mining figures and "
    "the journey maps.",
    tags=_writer_tags,
)

daily_ingest_schedule = dg.build_schedule_from_partitioned_job(ingest_job, hour_of_day=2)
daily_refresh_schedule = dg.ScheduleDefinition(
    job=refresh_job, cron_schedule="30 2 * * *", execution_timezone="UTC"
)

defs = dg.Definitions(
    assets=[*ingest_assets, crm_contacts, journey_models, transforms, *mining_assets, journey_maps],
    jobs=[ingest_job, refresh_job, monthly_snapshot],
    schedules=[daily_ingest_schedule, daily_refresh_schedule, monthly_snapshot_schedule],
    sensors=[landing_files_sensor],
    resources=build_resources(),
    loggers={"console": dg.colored_console_logger, "progress": progress_logger},
)
