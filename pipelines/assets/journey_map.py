"""mining.* -> the journey map: JSON, self-contained HTML, review.md and CSV per journey.

The daily refresh rewrites the current month's map from the live ``mining`` tables. The
monthly snapshot (first day of the month) freezes the month just closed into the append-only
``mining.<table>_snapshots`` tables and writes that month's files once, so the journey review
compares months even after the journey model or the data change.
"""

import os
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import dagster as dg
import duckdb
from dagster import AssetExecutionContext

from journey_mining.journey_map import write_outputs
from journey_mining.metrics.conformance import process_model_svg
from journey_mining.warehouse import Source
from pipelines.assets.mining import METRICS
from pipelines.resources import DuckDBResource, JourneymapPaths
from pipelines.spark import marts_source

VALUE_PER_CONVERSION = float(os.environ.get("JOURNEYMAP_VALUE_PER_CONVERSION", "1"))
MIN_N = int(os.environ.get("JOURNEYMAP_MIN_N", "30"))
MAP_FRESHNESS_HOURS = float(os.environ.get("JOURNEYMAP_MAP_FRESHNESS_HOURS", "36"))

MAP_KEY = dg.AssetKey(["journey_map", "journey_maps"])


def _journeys_and_period(con: duckdb.DuckDBPyConnection) -> tuple[list[str], str, bool]:
    """Every journey with a model, the month of the data's as-of time (``YYYY-MM``), and
    whether that month is complete (the as-of time falls on its last day)."""
    journeys = [
        row[0]
        for row in con.execute(
            "select distinct journey_id from marts.dim_journey_stages order by 1"
        ).fetchall()
    ]
    [(as_of,)] = con.execute("select max(as_of_at) from marts.dim_journey_stages").fetchall()
    moment = as_of if isinstance(as_of, datetime) else datetime.now(UTC)
    closed = (moment.date() + timedelta(days=1)).month != moment.month
    return journeys, moment.strftime("%Y-%m"), closed


def _personas(con: duckdb.DuckDBPyConnection, journey_id: str) -> list[str]:
    rows = con.execute(
        "select distinct persona_id from mining.stage_variants where journey_id = ? order by 1",
        [journey_id],
    ).fetchall()
    return [row[0] for row in rows]


def write_journey_maps(
    con: duckdb.DuckDBPyConnection,
    output: Path,
    period: str | None = None,
    *,
    take_snapshot: bool,
    force: bool = False,
    draw_process_models: bool = True,
    marts: Source | None = None,
) -> dict[str, Path]:
    """Write every journey's map for ``period`` (default: the data's as-of month).

    With ``draw_process_models`` False (``journey render``), the process-model pictures
    already in the period's folder are reused, so nothing is recomputed. The pictures are
    mined from the stage variants of ``marts`` (default ``con``; on the Spark route, the
    Spark warehouse: :func:`pipelines.spark.marts_source`); everything else comes from ``con``.
    """
    journeys, as_of_period, _ = _journeys_and_period(con)
    period = period or as_of_period
    written: dict[str, Path] = {}
    for journey_id in journeys:
        folder = output / journey_id / period / "process_models"
        if draw_process_models:
            pictures = {
                persona: process_model_svg(
                    marts or con, journey_id, persona, folder / f"{persona}.svg"
                )
                for persona in _personas(con, journey_id)
            }
        else:
            pictures = {svg.stem: svg for svg in sorted(folder.glob("*.svg"))}
        files = write_outputs(
            con,
            output,
            journey_id,
            period,
            take_snapshot=take_snapshot,
            force=force,
            process_maps=pictures,
            min_n=MIN_N,
            value_per_conversion=VALUE_PER_CONVERSION,
        )
        written.update({f"{journey_id}/{name}": path for name, path in files.items()})
    return written


@dg.asset(
    key=MAP_KEY,
    group_name="journey_map",
    kinds={"html", "json"},
    deps=[dg.AssetKey(["mining", name]) for name in METRICS],
    check_specs=[
        dg.AssetCheckSpec(
            "fresh_map",
            asset=MAP_KEY,
            description="the written map is newer than JOURNEYMAP_MAP_FRESHNESS_HOURS "
            "(default 36) and covers the data's as-of month",
        )
    ],
    description="The journey map of the current month for every journey: JSON, HTML, "
    "review.md, CSV and process-model pictures under JOURNEYMAP_OUTPUT/<journey>/<YYYY-MM>/.",
)
def journey_maps(
    context: AssetExecutionContext, duckdb: DuckDBResource, paths: JourneymapPaths
) -> dg.MaterializeResult:
    """Write the as-of month's map from the live figures; once the month is complete, its
    figures are also kept as that month's snapshot (written once, never overwritten)."""
    with duckdb.connect() as con:
        _, period, closed = _journeys_and_period(con)
        written = write_journey_maps(
            con, Path(paths.output), take_snapshot=closed, marts=marts_source(con)
        )
    htmls = sorted(str(p) for name, p in written.items() if name.endswith("/html"))
    reviews = sorted(str(p) for name, p in written.items() if name.endswith("/review"))
    jsons = sorted(str(p) for name, p in written.items() if name.endswith("/json"))
    csvs = sorted({str(p.parent) for name, p in written.items() if "/csv/" in name})
    context.log.info(f"journey maps for {period}: {', '.join(htmls)}")
    return dg.MaterializeResult(
        metadata={
            "period": period,
            "snapshot_kept": closed,
            "html": ", ".join(htmls),
            "review": ", ".join(reviews),
            "json": ", ".join(jsons),
            "csv": ", ".join(csvs),
            "files": len(written),
            "dagster/uri": htmls[0] if htmls else "",
        },
        check_results=[_fresh_map(written, period)],
    )


def _fresh_map(written: dict[str, Path], period: str) -> dg.AssetCheckResult:
    htmls = [p for name, p in written.items() if name.endswith("/html")]
    newest = max((p.stat().st_mtime for p in htmls if p.exists()), default=0.0)
    age_hours = (datetime.now(UTC).timestamp() - newest) / 3600
    return dg.AssetCheckResult(
        check_name="fresh_map",
        asset_key=MAP_KEY,
        passed=bool(htmls) and age_hours <= MAP_FRESHNESS_HOURS,
        metadata={"age_hours": round(age_hours, 2), "period": period, "maps": len(htmls)},
    )


@dg.op(description="Freeze the month just closed and write its journey maps, once.")
def snapshot_closed_month(
    context: dg.OpExecutionContext, duckdb: DuckDBResource, paths: JourneymapPaths
) -> None:
    """On the first day of a month, the previous month becomes a kept snapshot."""
    scheduled = context.run.tags.get("dagster/scheduled_execution_time")
    today = datetime.fromisoformat(scheduled).date() if scheduled else date.today()
    closed = (today.replace(day=1) - timedelta(days=1)).strftime("%Y-%m")
    with duckdb.connect() as con:
        written = write_journey_maps(
            con, Path(paths.output), closed, take_snapshot=True, marts=marts_source(con)
        )
    context.log.info(f"snapshot {closed}: {len(written)} files")


@dg.job(description="Monthly: keep the closed month's figures and maps for the journey review.")
def monthly_snapshot() -> None:
    """The monthly journey review's input."""
    snapshot_closed_month()


monthly_snapshot_schedule = dg.ScheduleDefinition(
    job=monthly_snapshot, cron_schedule="0 4 1 * *", execution_timezone="UTC"
)
