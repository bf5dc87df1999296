"""Benchmark: read + stage + load N synthetic events into DuckDB, JSON lines and Parquet.

Usage: ``python benchmarks/ingest.py --events 2000000 [--workdir DIR] [--days 30]``.
Generation runs first; each measurement runs in a fresh child process
(``_measure.run_measured``) so that its peak RSS is its own.
Targets (2 cores): Parquet >= 2,000,000 events/s, JSON lines >= 300,000 events/s.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

import polars as pl
from _measure import run_measured

EPOCH_2026_07_01 = 1_782_864_000


def generate(root: Path, events: int, days: int, files: int) -> None:
    """Write ``files`` Segment JSON-lines files and as many canonical Parquet files.

    File k is exported on day k and holds that day's events plus about 3% late ones from the
    one to three days before, as real exports do.
    """
    per_file = events // files
    segment = root / "events" / "segment"
    feed = root / "events" / "generic" / "canonical"
    segment.mkdir(parents=True)
    feed.mkdir(parents=True)
    (feed / "mapping.yml").write_text(
        "timestamp: iso8601\ncolumns: {event_id: event_id, event: event, ts: ts,"
        " user_id: user_id, anonymous_id: anonymous_id, properties: properties}\n"
    )
    names = ["Page Viewed", "Signed Up", "Project Created", "Report Shared", "Dashboard Viewed"]
    for k in range(files):
        i = pl.int_range(k * per_file, (k + 1) * per_file, eager=True).alias("i")
        day = k % days
        late = pl.when((i % 33 == 0) & (day >= 3)).then(1 + i % 3).otherwise(0)
        seconds = EPOCH_2026_07_01 + (day - late) * 86400 + (i * 7919) % 86400
        frame = pl.DataFrame(i).with_columns(
            event_id=pl.format("m-{}", pl.col("i")),
            user_id=pl.format("u_{}", pl.col("i") % 100_000),
            anonymous_id=pl.format("anon-{}", pl.col("i") % 250_000),
            event=pl.lit(pl.Series(names)).gather(pl.col("i") % len(names)),
            ts=(seconds * 1_000_000).cast(pl.Datetime("us", "UTC")),
            plan=pl.when(pl.col("i") % 3 == 0).then(pl.lit("trial")).otherwise(pl.lit("team")),
        )
        stamp = (date(2026, 7, 1) + timedelta(days=k % days)).isoformat()
        lines = frame.select(
            pl.struct(
                type=pl.lit("track"),
                messageId="event_id",
                userId="user_id",
                anonymousId="anonymous_id",
                event="event",
                timestamp=pl.col("ts").dt.strftime("%Y-%m-%dT%H:%M:%S%.3fZ"),
                properties=pl.struct(plan="plan", n="i"),
                context=pl.struct(library=pl.struct(name=pl.lit("analytics.js"))),
            ).struct.json_encode()
        )
        lines.write_csv(
            segment / f"{stamp}-{k:03d}.jsonl", include_header=False, quote_style="never"
        )
        frame.select(
            "event_id",
            "event",
            "ts",
            "user_id",
            "anonymous_id",
            properties=pl.struct(plan="plan", n="i").struct.json_encode(),
        ).write_parquet(feed / f"{stamp}-{k:03d}.parquet")


def measure(
    root: Path, database: Path, source: str, days: int, memory_limit: str
) -> dict[str, float]:
    """Stage every file of one source, then load every day's partition; time and RSS.

    The same two calls the daily ingest asset makes for a backfill: ``stage_files`` over the
    landing files, then ``load_partitions`` over all days in one transaction.
    """
    import duckdb  # noqa: PLC0415

    from journey_mining.ingest import (  # noqa: PLC0415
        ensure_raw_schema,
        load_partitions,
        stage_files,
    )
    from journey_mining.sources import landing_files  # noqa: PLC0415

    # as the Dagster resource does: a memory bound and a spill folder, so the first-copy join
    # spills instead of growing with the landing folder
    spill = database.with_suffix(".tmp")
    con = duckdb.connect(
        str(database), config={"memory_limit": memory_limit, "temp_directory": str(spill)}
    )
    ensure_raw_schema(con)
    files = [f for f in landing_files(root) if f.shape.name == source]
    start = time.perf_counter()
    read = sum(report.rows_read for report in stage_files(con, files))
    staged_at = time.perf_counter()
    all_days = [date(2026, 7, 1) + timedelta(days=offset) for offset in range(days)]
    loaded = sum(report.loaded for report in load_partitions(con, "product_events", all_days))
    end = time.perf_counter()
    con.close()
    return {
        "events": read,
        "loaded": loaded,
        "stage_s": staged_at - start,
        "load_s": end - staged_at,
        "total_s": end - start,
        "events_per_s": read / (end - start),
    }


def main() -> None:
    """Generate, then measure JSON lines and Parquet in separate processes."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=2_000_000)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--files", type=int, default=0, help="files per format (default: days)")
    parser.add_argument("--workdir", type=Path)
    parser.add_argument(
        "--memory-limit", default="2GB", help="DuckDB memory_limit of the ingest (default 2GB)"
    )
    parser.add_argument("--measure", choices=["segment", "generic"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        root = args.workdir / "landing"
        database = args.workdir / f"{args.measure}.duckdb"
        result = measure(root, database, args.measure, args.days, args.memory_limit)
        print(json.dumps(result))
        return
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="journeymap-bench-"))
    root = workdir / "landing"
    shutil.rmtree(root, ignore_errors=True)
    for old in workdir.glob("*.duckdb*"):
        old.unlink()
    started = time.perf_counter()
    generate(root, args.events, args.days, args.files or args.days)
    print(f"generated {args.events:,} events x 2 formats in {time.perf_counter() - started:.1f}s")
    for source, label in (("generic", "Parquet"), ("segment", "JSON lines")):
        done = run_measured(
            [
                sys.executable,
                __file__,
                "--measure",
                source,
                "--workdir",
                str(workdir),
                "--days",
                str(args.days),
                "--memory-limit",
                args.memory_limit,
            ]
        )
        if done.returncode != 0:
            sys.exit(f"{label} ingest failed ({done.returncode}):\n{done.stderr[-4000:]}")
        figures = {**done.report(), "peak_rss_mib": done.peak_mib}
        print(
            f"{label:10s}: {figures['events']:,.0f} events read, {figures['loaded']:,.0f} loaded "
            f"in {figures['total_s']:.1f}s (stage {figures['stage_s']:.1f}s, partitions "
            f"{figures['load_s']:.1f}s) = {figures['events_per_s']:,.0f} events/s, "
            f"peak RSS {figures['peak_rss_mib']:,.0f} MiB"
        )
    if args.workdir is None:
        shutil.rmtree(workdir)


if __name__ == "__main__":
    main()
