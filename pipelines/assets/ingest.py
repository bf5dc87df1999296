"""landing/ -> raw.*: one asset per raw table, daily-partitioned on the event day."""

import os
from datetime import date
from pathlib import Path

import dagster as dg
from dagster import AssetExecutionContext

from journey_mining.ingest import LoadReport, ingest_partition, ingest_partitions
from pipelines.resources import DuckDBResource, JourneymapPaths

PARTITIONED_TABLES = (
    "product_events",
    "crm_activities",
    "crm_deal_stage_changes",
    "crm_survey_responses",
)
REJECT_RATIO_LIMIT = float(os.environ.get("JOURNEYMAP_REJECT_RATIO_LIMIT", "0.05"))

daily_partitions = dg.DailyPartitionsDefinition(
    start_date=os.environ.get("JOURNEYMAP_FIRST_DAY", "2026-07-01"), timezone="UTC"
)


def _checks(key: dg.AssetKey) -> list[dg.AssetCheckSpec]:
    return [
        dg.AssetCheckSpec(
            "conservation", asset=key, description="read = loaded + rejected + duplicates"
        ),
        dg.AssetCheckSpec("reject_ratio", asset=key, description="rejected share of rows read"),
    ]


def _result(key: dg.AssetKey, reports: list[LoadReport]) -> dg.MaterializeResult:
    read = sum(r.rows_read for r in reports)
    loaded = sum(r.loaded for r in reports)
    rejected = sum(r.rejected for r in reports)
    duplicates = sum(r.duplicates_dropped for r in reports)
    failed = sorted({str(f) for r in reports for f in r.failed_files})
    ratio = rejected / read if read else 0.0
    return dg.MaterializeResult(
        asset_key=key,
        metadata={
            "rows_read": read,
            "dagster/row_count": loaded,
            "rejected": rejected,
            "duplicates_dropped": duplicates,
            "unreadable_files": ", ".join(failed) or "none",
        },
        check_results=[
            dg.AssetCheckResult(
                check_name="conservation",
                asset_key=key,
                passed=read == loaded + rejected + duplicates,
                metadata={"read": read, "accounted": loaded + rejected + duplicates},
            ),
            dg.AssetCheckResult(
                check_name="reject_ratio",
                asset_key=key,
                passed=ratio <= REJECT_RATIO_LIMIT,
                metadata={"reject_ratio": ratio, "limit": REJECT_RATIO_LIMIT},
            ),
        ],
    )


def _partitioned_ingest_asset(table: str) -> dg.AssetsDefinition:
    key = dg.AssetKey(["raw", table])

    @dg.asset(
        key=key,
        group_name="ingest",
        kinds={"duckdb"},
        partitions_def=daily_partitions,
        backfill_policy=dg.BackfillPolicy.single_run(),
        check_specs=_checks(key),
        description=f"Replace raw.{table} for each event day from the landing files.",
    )
    def _ingest(
        context: AssetExecutionContext, duckdb: DuckDBResource, paths: JourneymapPaths
    ) -> dg.MaterializeResult:
        days = [date.fromisoformat(partition) for partition in context.partition_keys]
        with duckdb.connect() as con:
            reports = ingest_partitions(con, table, days, Path(paths.landing))
        return _result(key, reports)

    return _ingest


ingest_assets = [_partitioned_ingest_asset(table) for table in PARTITIONED_TABLES]

_CONTACTS = dg.AssetKey(["raw", "crm_contacts"])


@dg.asset(
    key=_CONTACTS,
    group_name="ingest",
    kinds={"duckdb"},
    check_specs=_checks(_CONTACTS),
    description="Replace raw.crm_contacts from the latest contacts snapshot.",
)
def crm_contacts(duckdb: DuckDBResource, paths: JourneymapPaths) -> dg.MaterializeResult:
    """Contacts are a snapshot, not a daily feed: each run replaces the whole table."""
    with duckdb.connect() as con:
        report = ingest_partition(con, "crm_contacts", None, Path(paths.landing))
    return _result(_CONTACTS, [report])
