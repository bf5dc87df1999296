"""Run the whole asset graph in-process: what ``journey demo`` and ``journey run`` do."""

from __future__ import annotations

import contextlib
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import dagster as dg


@dataclass(frozen=True)
class RunResults:
    """What a refresh produced: metadata per asset and the files written."""

    metadata: dict[str, dict[str, object]] = field(default_factory=dict)
    outputs: dict[str, Path] = field(default_factory=dict)


def _collect(result: dg.ExecuteInProcessResult, into: dict[str, dict[str, object]]) -> int:
    events = result.get_asset_materialization_events()
    keys = set()
    for event in events:
        materialization = event.step_materialization_data.materialization
        if materialization is not None:
            keys.add(materialization.asset_key)
            into["/".join(materialization.asset_key.path)] = {
                name: value.value for name, value in materialization.metadata.items()
            }
    return len(keys)


QUIET = {"loggers": {"console": {"config": {"log_level": "WARNING"}}, "progress": {}}}


@contextlib.contextmanager
def _quiet_stdout(log: Path, progress: Callable[[str], None]) -> Iterator[None]:
    """Send what libraries print (dbt's own log) to ``log``; step ends still reach ``progress``."""
    from pipelines.progress import reporting_to

    log.parent.mkdir(parents=True, exist_ok=True)
    terminal = sys.stdout

    def report(message: str) -> None:
        with contextlib.redirect_stdout(terminal):
            progress(message)

    with (
        log.open("a", encoding="utf-8") as fh,
        contextlib.redirect_stdout(fh),
        reporting_to(report),
    ):
        yield


def run_everything(
    home: Path,
    first_day: str,
    last_day: str,
    progress: Callable[[str], None] = print,
    instance: dg.DagsterInstance | None = None,
) -> RunResults:
    """Ingest the days ``first_day..last_day`` in one run, then refresh everything downstream."""
    from pipelines.definitions import defs

    if instance is None:
        storage = home.absolute() / "dagster"
        storage.mkdir(parents=True, exist_ok=True)
        instance = dg.DagsterInstance.local_temp(str(storage))
    metadata: dict[str, dict[str, object]] = {}
    log = home.absolute() / "logs" / f"run-{time.strftime('%Y%m%dT%H%M%S')}.log"
    started = time.perf_counter()
    with _quiet_stdout(log, progress):
        ingest = defs.resolve_job_def("ingest_daily").execute_in_process(
            instance=instance,
            run_config=QUIET,
            tags={
                "dagster/asset_partition_range_start": first_day,
                "dagster/asset_partition_range_end": last_day,
            },
        )
    count = _collect(ingest, metadata)
    progress(
        f"ingest {first_day}..{last_day}: {count} raw tables ({time.perf_counter() - started:.1f}s)"
    )
    for key, values in sorted(metadata.items()):
        progress(
            f"  {key}: read {values.get('rows_read')}, loaded {values.get('dagster/row_count')}, "
            f"rejected {values.get('rejected')}, duplicates {values.get('duplicates_dropped')}"
        )
    started = time.perf_counter()
    with _quiet_stdout(log, progress):
        refresh = defs.resolve_job_def("refresh").execute_in_process(
            instance=instance, run_config=QUIET
        )
    count = _collect(refresh, metadata)
    seconds = time.perf_counter() - started
    progress(f"refresh: {count} assets (dbt models, mining figures, journey maps) ({seconds:.1f}s)")
    outputs: dict[str, Path] = {}
    maps = metadata.get("journey_map/journey_maps", {})
    labels = (("journey map", "html"), ("document", "json"), ("review", "review"), ("CSV", "csv"))
    for label, field_name in labels:
        for i, path in enumerate(str(maps.get(field_name, "")).split(", ")):
            if path:
                outputs[label if i == 0 else f"{label} {i + 1}"] = Path(path)
    outputs["run log"] = log
    return RunResults(metadata=metadata, outputs=outputs)


def biggest_losses(database: Path) -> list[str]:
    """Per persona, the stage that loses the most people (all entry months): the headline."""
    import duckdb

    with duckdb.connect(str(database), read_only=True) as con:
        rows = con.execute(
            "select persona_id, stage_id, lost_here, conversion_rate, conversion_low, "
            "conversion_high, conversion_n from mining.stage_funnel where cohort = 'all' "
            "qualify row_number() over (partition by journey_id, persona_id "
            "order by lost_here desc, stage_order) = 1 order by persona_id = 'all' desc, 1"
        ).fetchall()
    lines = []
    for persona, stage, lost, rate, low, high, n in rows:
        conversion = (
            f"converts {rate:.1%} (95% CI {low:.1%}-{high:.1%}, n={n:,})"
            if rate is not None
            else "final stage"
        )
        lines.append(f"{persona}: loses most at {stage} ({lost:,} lost; {conversion})")
    return lines
