"""landing/ -> raw.*: one asset per raw table, daily-partitioned on the event day."""

import os
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path

import dagster as dg
import duckdb
from dagster import AssetExecutionContext

from journey_mining.ingest import LoadReport, ingest_partition, ingest_partitions, load_partitions
from pipelines.resources import DuckDBResource, JourneymapPaths

PARTITIONED_TABLES = (
    "product_events",
    "crm_activities",
    "crm_deal_stage_changes",
    "crm_survey_responses",
)
REJECT_RATIO_LIMIT = float(os.environ.get("JOURNEYMAP_REJECT_RATIO_LIMIT", "0.05"))
FRESHNESS_HOURS = float(os.environ.get("JOURNEYMAP_FRESHNESS_HOURS", "48"))

daily_partitions = dg.DailyPartitionsDefinition(
    start_date=os.environ.get("JOURNEYMAP_FIRST_DAY", "2026-07-01"), timezone="UTC"
)


def _checks(key: dg.AssetKey) -> list[dg.AssetCheckSpec]:
    return [
        dg.AssetCheckSpec(
            "conservation", asset=key, description="read = loaded + rejected + duplicates"
        ),
        dg.AssetCheckSpec("reject_ratio", asset=key, description="rejected share of rows read"),
        dg.AssetCheckSpec(
            "freshness",
            asset=key,
            description=f"hours from the newest row's timestamp to now (warns above "
            f"JOURNEYMAP_FRESHNESS_HOURS, default {FRESHNESS_HOURS:g})",
        ),
    ]


def _freshness(key: dg.AssetKey, newest: datetime | None) -> dg.AssetCheckResult:
    now = datetime.now(UTC).replace(tzinfo=None)
    hours = (now - newest).total_seconds() / 3600 if newest is not None else None
    return dg.AssetCheckResult(
        check_name="freshness",
        asset_key=key,
        passed=hours is not None and hours <= FRESHNESS_HOURS,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={
            "hours_since_newest": round(hours, 1) if hours is not None else -1.0,
            "newest": str(newest) if newest is not None else "no rows",
            "limit_hours": FRESHNESS_HOURS,
        },
    )


def _result(
    key: dg.AssetKey, reports: list[LoadReport], newest: datetime | None
) -> dg.MaterializeResult:
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
            _freshness(key, newest),
        ],
    )


def _newest(con: duckdb.DuckDBPyConnection, table: str) -> datetime | None:
    """The newest timestamp in the raw table (contacts: the newest ``created_at``)."""
    column = "created_at" if table == "crm_contacts" else "ts"
    rows = con.execute(f"select max({column}) from raw.{table}").fetchall()
    value = rows[0][0] if rows else None
    return value if isinstance(value, datetime) else None


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
    ) -> Iterator[dg.AssetMaterialization | dg.MaterializeResult]:
        """Late rows staged by this run for days outside it are loaded too, and those days
        are marked materialized, so what depends on them sees the change."""
        days = [date.fromisoformat(partition) for partition in context.partition_keys]
        with duckdb.connect() as con:
            reports = ingest_partitions(con, table, days, Path(paths.landing))
            first = daily_partitions.start.date()
            late = sorted({d for r in reports for d in r.other_dates if d >= first} - set(days))
            if late:
                context.log.info(f"late rows for {len(late)} earlier day(s): {late}")
                for day, report in zip(late, load_partitions(con, table, late), strict=True):
                    yield dg.AssetMaterialization(
                        asset_key=key,
                        partition=day.isoformat(),
                        metadata={"dagster/row_count": report.loaded, "reloaded_for": "late rows"},
                    )
            newest = _newest(con, table)
        yield _result(key, reports, newest)

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
        newest = _newest(con, "crm_contacts")
    return _result(_CONTACTS, [report], newest)
