"""A sensor that starts an ingest run when landing files appear or change.

The cursor maps each landing file to its size and modification time. New or changed files
request one run of ``ingest_daily`` over the days they may hold: an export of day E holds
events of E and of up to ``JOURNEYMAP_LATE_DAYS`` (default 3) days before. Rows that arrive
later still are found by the run itself (see ``pipelines.assets.ingest``). Unchanged files
are skipped by content hash inside the run, so a spurious trigger costs little.
"""

import hashlib
import json
import os
from datetime import date, timedelta
from pathlib import Path

import dagster as dg

from journey_mining.sources import landing_files
from pipelines.assets.ingest import daily_partitions

LATE_DAYS = int(os.environ.get("JOURNEYMAP_LATE_DAYS", "3"))


@dg.sensor(
    job_name="ingest_daily",
    minimum_interval_seconds=60,
    description="Ingest the days that new or changed landing files may hold.",
)
def landing_files_sensor(context: dg.SensorEvaluationContext) -> dg.SensorResult:
    """Compare the landing folder with the cursor; request a run over the affected days."""
    landing = Path(os.environ["JOURNEYMAP_LANDING"])
    if not landing.is_dir():
        return dg.SensorResult(skip_reason=dg.SkipReason(f"{landing}: no landing folder yet"))
    seen: dict[str, str] = json.loads(context.cursor) if context.cursor else {}
    now: dict[str, str] = {}
    changed = []
    for file in landing_files(landing):
        stat = file.path.stat()
        now[file.source_file] = f"{stat.st_size}:{stat.st_mtime_ns}"
        if seen.get(file.source_file) != now[file.source_file]:
            changed.append(file)
    if not changed:
        return dg.SensorResult(skip_reason=dg.SkipReason("no new or changed landing files"))
    last_key = daily_partitions.get_last_partition_key()
    if last_key is None:
        return dg.SensorResult(skip_reason=dg.SkipReason("no complete day to ingest yet"))
    first, last = daily_partitions.start.date(), date.fromisoformat(last_key)
    exported = [f.export_date or last for f in changed]
    start = max(first, min(exported) - timedelta(days=LATE_DAYS))
    end = min(last, max(exported))
    if start > end:
        return dg.SensorResult(
            skip_reason=dg.SkipReason(f"{len(changed)} file(s) outside {first}..{last}"),
            cursor=json.dumps(now, sort_keys=True),
        )
    signature = ",".join(sorted(f"{f.source_file}={now[f.source_file]}" for f in changed))
    return dg.SensorResult(
        run_requests=[
            dg.RunRequest(
                run_key=f"{start}..{end}:{hashlib.sha256(signature.encode()).hexdigest()[:12]}",
                tags={
                    "dagster/asset_partition_range_start": start.isoformat(),
                    "dagster/asset_partition_range_end": end.isoformat(),
                    "journeymap/changed_files": str(len(changed)),
                },
            )
        ],
        cursor=json.dumps(now, sort_keys=True),
    )
