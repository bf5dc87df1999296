"""Speed at scale (issue 8): every stage of the pipeline and its peers, measured in one run.

Usage: ``python benchmarks/run.py --events 10000000 [--workdir DIR] [--landing DIR]
[--json OUT.json] [--skip-peers] [--skip-incremental] [--seed 7]``.

Each stage runs in its own process (``_measure.run_measured``), so its wall time and peak RSS
are its own: generating the demo landing (JSON lines and CSV), ingesting it, turning it into a
Parquet landing, ingesting that, the dbt build, all mining metrics, rendering the journey map;
then, on one event log exported from ``marts.fct_activities``, our DuckDB engine
(``journey_mining.metrics.funnel`` and ``paths``) against pm4py and chDB; then a daily increment
of 1% new events. The counts of the three engines must be equal (exit status 1 otherwise); the
table says which targets of the issue are met, and ``--json`` keeps every figure.
benchmarks/README.md explains the stages, the measures and the funnel semantics.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta
from importlib import metadata
from pathlib import Path
from typing import Any

from _measure import Measured, run_measured
from peers import VARIANT_JOIN

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
TRANSFORMS = REPO / "transforms"
DBT = Path(sys.executable).with_name("dbt")

EVENTS_PER_PERSON = 12.4  # landing lines per demo person (product events and CRM rows)
PM4PY_MAX_EVENTS = 10_000_000  # the issue runs pm4py on the full log up to this size
INCREMENT_SHARE = 0.01  # the daily increment: 1% new events
SIZE_TOLERANCE = 0.1  # a size target applies to runs within 10% of its size
# the work folder's peak use per landing event: at 100M, the DuckDB file (raw tables and their
# landing stage, 46 GB after ingest), dbt's spill (18 GB) and both landings came to about 77 GB
DISK_BYTES_PER_EVENT = 800

# -- children: each runs in its own process, prints one JSON line ------------------------------


def _connect(database: Path | str, *, read_only: bool = False) -> Any:
    """A DuckDB connection configured as the pipeline's resource (memory limit, spill folder)."""
    import duckdb  # noqa: PLC0415

    temp = Path(os.environ["JOURNEYMAP_DUCKDB_TEMP"])
    temp.mkdir(parents=True, exist_ok=True)
    config = {
        "memory_limit": os.environ["JOURNEYMAP_DUCKDB_MEMORY_LIMIT"],
        "temp_directory": str(temp),
    }
    return duckdb.connect(str(database), read_only=read_only, config=config)


def child_generate(spec: dict[str, Any]) -> dict[str, Any]:
    """The demo generator, writing ``landing/`` under the work folder."""
    from journey_mining.demo import generate_demo  # noqa: PLC0415

    started = time.perf_counter()
    summary = generate_demo(Path(spec["out"]), persons=spec["persons"], seed=spec["seed"])
    return {
        "work_s": time.perf_counter() - started,
        "persons": summary.persons,
        "events": summary.events,
        "product_events": summary.product_events,
        "crm_rows": summary.crm_rows,
        "files": summary.files,
    }


def child_ingest(spec: dict[str, Any]) -> dict[str, Any]:
    """What a refresh's ingest does: every raw table for the days, contacts, journey models.

    The calls of the ``raw.*`` assets (``ingest_partitions`` over all days at once, as a
    backfill does), ``crm_contacts`` and ``journey_models``, each on its own connection, as
    each asset opens and closes one (``DuckDBResource.connect``): one connection for all
    would keep DuckDB's cache of the earlier tables beside the next table's parse buffers.
    """
    from journey_mining.ingest import PARTITIONED, ingest_partition, ingest_partitions  # noqa: PLC0415
    from journey_mining.journey_model import compile_rule_tables, load_journey_models  # noqa: PLC0415

    landing = Path(spec["landing"])
    days = [date.fromisoformat(day) for day in spec["days"]]
    started = time.perf_counter()
    read: dict[str, int] = {}
    loaded: dict[str, int] = {}
    seconds: dict[str, float] = {}
    for table in (*PARTITIONED, "crm_contacts"):
        began = time.perf_counter()
        con = _connect(spec["database"])
        if table == "crm_contacts":
            reports = [ingest_partition(con, table, None, landing)]
        else:
            reports = ingest_partitions(con, table, days, landing)
        con.close()
        seconds[table] = time.perf_counter() - began
        read[table] = sum(r.rows_read for r in reports)
        loaded[table] = sum(r.loaded for r in reports)
    tables = compile_rule_tables(load_journey_models(Path(os.environ["JOURNEYMAP_MODELS"])))
    con = _connect(spec["database"])
    con.execute("begin transaction")
    for name, frame in tables.items():
        con.register("compiled", frame)
        con.execute(f"create or replace table raw.{name} as select * from compiled")
        con.unregister("compiled")
    con.execute("commit")
    con.close()
    return {
        "work_s": time.perf_counter() - started,
        "rows_read": sum(read.values()),
        "rows_loaded": sum(loaded.values()),
        "read": read,
        "loaded": loaded,
        "seconds": seconds,
    }


def _move_partitions(staging: Path, target: Callable[[dict[str, str], str], Path]) -> int:
    """Move ``key=value/.../data_N.ext`` files written by ``COPY ... PARTITION_BY`` into place."""
    moved = 0
    for path in sorted(staging.rglob("data_*.*")):
        keys = dict(part.split("=", 1) for part in path.relative_to(staging).parts[:-1])
        destination = target(keys, path.stem.removeprefix("data_"))
        destination.parent.mkdir(parents=True, exist_ok=True)
        path.rename(destination)
        moved += 1
    shutil.rmtree(staging)
    return moved


_MAPPING = (
    "source: {source}\nchannel: {channel}\ntimestamp: iso8601\ncolumns: {{event_id: event_id, "
    "event: event, ts: ts, user_id: user_id, anonymous_id: anonymous_id, "
    "properties: properties}}\n"
)
_FEED_ROWS = (
    "event_id, event, ts, user_id, anonymous_id, properties, lower(source) as feed_source, "
    "case when lower(channel) = 'app' then 'app' else 'web' end as feed_channel"
)


def _write_feed_mappings(events: Path) -> None:
    for feed in sorted(p for p in events.iterdir() if p.is_dir()):
        source, channel = feed.name.rsplit("-", 1)
        (feed / "mapping.yml").write_text(_MAPPING.format(source=source, channel=channel))


def child_to_parquet(spec: dict[str, Any]) -> dict[str, Any]:
    """Turn the loaded landing into a Parquet landing: what ``--landing`` Parquet users have.

    Product events become one generic Parquet feed per source and channel, a file per event
    day (the generic shape makes every row a track call, so identify and alias calls stay
    Segment JSON lines, a small file per day); the CRM CSV exports are linked as they are.
    """
    started = time.perf_counter()
    out = Path(spec["out"])
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    generic = out / "events" / "generic"
    con = _connect(spec["database"], read_only=True)
    staging = out / "_staging"
    con.execute(
        f"copy (select {_FEED_ROWS}, strftime(event_date, '%Y-%m-%d') as day "
        "from raw.product_events where event_type not in ('identify', 'alias')) "
        f"to '{staging}' (format parquet, compression zstd, "
        "partition_by (feed_source, feed_channel, day))"
    )
    files = _move_partitions(
        staging,
        lambda k, n: (
            generic / f"{k['feed_source']}-{k['feed_channel']}" / f"{k['day']}_{n}.parquet"
        ),
    )
    _write_feed_mappings(generic)
    con.execute(
        "copy (select event_type as type, event_id as messageId, user_id as userId, "
        "anonymous_id as anonymousId, previous_id as previousId, "
        "strftime(ts, '%Y-%m-%dT%H:%M:%S.%fZ') as timestamp, cast(traits as json) as traits, "
        "strftime(event_date, '%Y-%m-%d') as day "
        "from raw.product_events where event_type in ('identify', 'alias')) "
        f"to '{staging}' (format json, partition_by (day))"
    )
    files += _move_partitions(
        staging, lambda k, n: out / "events" / "segment" / f"{k['day']}_{n}.jsonl"
    )
    rows = con.execute("select count(*) from raw.product_events").fetchone()
    con.close()
    crm = Path(spec["landing"]) / "crm"
    if crm.exists():
        try:
            shutil.copytree(crm, out / "crm", copy_function=os.link)
        except OSError:
            shutil.rmtree(out / "crm", ignore_errors=True)
            shutil.copytree(crm, out / "crm")
    return {"work_s": time.perf_counter() - started, "product_events": rows[0], "files": files}


def child_increment(spec: dict[str, Any]) -> dict[str, Any]:
    """A new export day holding 1% new events: copies of sampled events, moved to that day.

    The sampled events belong to existing persons, so the increment extends their journeys,
    as a day of real traffic does.
    """
    started = time.perf_counter()
    landing = Path(spec["landing"])
    con = _connect(spec["database"], read_only=True)
    day, activities = con.execute(
        "select (select max(event_date) + 1 from raw.product_events), "
        "(select count(*) from marts.fct_activities)"
    ).fetchone()
    rows = max(1, round(activities * spec["share"]))
    staging = landing / "_staging"
    con.execute(
        f"copy (select event_id || ':{day}' as event_id, event, "
        f"cast(date '{day}' as timestamp) + (ts - date_trunc('day', ts)) as ts, user_id, "
        "anonymous_id, properties, lower(source) as feed_source, "
        "case when lower(channel) = 'app' then 'app' else 'web' end as feed_channel "
        "from raw.product_events where event_type not in ('identify', 'alias') "
        f"order by hash(event_id) limit {rows}) "
        f"to '{staging}' (format parquet, compression zstd, "
        "partition_by (feed_source, feed_channel))"
    )
    con.close()
    generic = landing / "events" / "generic"
    _move_partitions(
        staging,
        lambda k, n: generic / f"{k['feed_source']}-{k['feed_channel']}" / f"{day}_{n}.parquet",
    )
    _write_feed_mappings(generic)
    return {"work_s": time.perf_counter() - started, "day": str(day), "new_events": rows}


def child_mining(spec: dict[str, Any]) -> dict[str, Any]:
    """Every ``mining.*`` asset's work: each step of ``mining_steps`` on its own connection,
    stored as the asset does."""
    from pipelines.assets.mining import mining_steps, store  # noqa: PLC0415

    started = time.perf_counter()
    seconds: dict[str, float] = {}
    for names, compute in mining_steps():
        began = time.perf_counter()
        con = _connect(spec["database"])  # each asset step opens its own, as in a refresh
        for name, frame in zip(names, compute(con), strict=True):
            store(con, name, frame)
        con.close()
        seconds[" + ".join(names)] = time.perf_counter() - began
    return {"work_s": time.perf_counter() - started, "metrics": seconds}


def child_render(spec: dict[str, Any]) -> dict[str, Any]:
    """The journey-map asset's work: JSON, HTML, review, CSV and process models per journey."""
    from pipelines.assets.journey_map import write_journey_maps  # noqa: PLC0415

    started = time.perf_counter()
    con = _connect(spec["database"])
    written = write_journey_maps(con, Path(spec["output"]), take_snapshot=False)
    con.close()
    return {"work_s": time.perf_counter() - started, "files": len(written)}


def child_export(spec: dict[str, Any]) -> dict[str, Any]:
    """The event log every engine reads: one row per activity of ``marts.fct_activities``."""
    started = time.perf_counter()
    con = _connect(spec["database"], read_only=True)
    con.execute(
        "copy (select person_key, event, ts, activity_seq, properties from marts.fct_activities "
        "where person_key is not null and event is not null and ts is not null) "
        f"to '{spec['log']}' (format parquet, compression zstd)"
    )
    rows, cases = con.execute(
        f"select count(*), count(distinct person_key) from read_parquet('{spec['log']}')"
    ).fetchone()
    con.close()
    return {"work_s": time.perf_counter() - started, "events": rows, "cases": cases}


def child_ours(spec: dict[str, Any]) -> dict[str, Any]:
    """Our engine on the exported log: the funnel, or the paths (variants and DFG) sorted once."""
    import polars as pl  # noqa: PLC0415

    from journey_mining.metrics.funnel import Condition, Step, funnel  # noqa: PLC0415
    from journey_mining.metrics.paths import traces  # noqa: PLC0415

    columns = {"timestamp_col": "ts", "order_col": "activity_seq"}
    started = time.perf_counter()
    con = _connect(":memory:")
    con.execute(f"create view log as select * from read_parquet('{spec['log']}')")
    if spec["task"] == "funnel":
        steps = [
            Step(s["event"], tuple(Condition(p, op, v) for p, op, v in s["where"]), s["name"])
            for s in spec["steps"]
        ]
        found = funnel(
            con,
            steps,
            spec["window_seconds"],
            table="log",
            person_col="person_key",
            event_col="event",
            properties_col="properties",
            **columns,
        ).steps
        work = time.perf_counter() - started
        began = time.perf_counter()
        frame = pl.DataFrame(
            {"step": list(range(1, len(found) + 1)), "persons": [s.count for s in found]}
        )
        frame.write_parquet(spec["out"])
        return {"work_s": work, "dump_s": time.perf_counter() - began, "rows": frame.height}
    seconds: dict[str, float] = {}
    compact = traces(con, table="log", case_col="person_key", activity_col="event", **columns)
    seconds["sort once (traces)"] = time.perf_counter() - started
    began = time.perf_counter()
    variants = compact.variants_frame()
    seconds["variants"] = time.perf_counter() - began
    began = time.perf_counter()
    edges = compact.dfg()
    seconds["dfg"] = time.perf_counter() - began
    work = time.perf_counter() - started
    began = time.perf_counter()
    variants.select(
        pl.col("activities").list.join(VARIANT_JOIN).alias("variant"), pl.col("cases")
    ).write_parquet(spec["out_variants"])
    pl.DataFrame(
        {
            "source": [e.source for e in edges],
            "target": [e.target for e in edges],
            "transitions": [e.count for e in edges],
        },
        schema={"source": pl.String, "target": pl.String, "transitions": pl.Int64},
    ).write_parquet(spec["out_dfg"])
    return {"work_s": work, "dump_s": time.perf_counter() - began, "seconds": seconds}


CHILDREN: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
    "generate": child_generate,
    "ingest": child_ingest,
    "to_parquet": child_to_parquet,
    "increment": child_increment,
    "mining": child_mining,
    "render": child_render,
    "export": child_export,
    "ours": child_ours,
}

# -- the parent: runs the stages, checks the counts, prints the table -------------------------


@dataclass
class Stage:
    """One measured process (or a sum of them): what the table and the JSON show."""

    key: str
    label: str
    wall_s: float | None = None
    work_s: float | None = None
    peak_mib: float | None = None
    returncode: int = 0
    skipped: str | None = None
    report: dict[str, Any] = field(default_factory=dict)
    load_before: tuple[float, float, float] | None = None
    parts: tuple[str, ...] = ()

    def as_json(self) -> dict[str, Any]:
        """The stage's figures for ``--json``."""
        return {
            "label": self.label,
            "wall_s": self.wall_s,
            "work_s": self.work_s,
            "peak_mib": self.peak_mib,
            "returncode": self.returncode,
            "skipped": self.skipped,
            "load_average_before": self.load_before,
            "parts": list(self.parts),
            "report": self.report,
        }


@dataclass
class Target:
    """One target of the issue: what it asks, at which size, the figure and the verdict."""

    text: str
    stage: str
    verdict: str
    figure: str


class Bench:
    """The work folder, the children's environment and the stages measured so far."""

    def __init__(self, workdir: Path, *, memory_limit: str) -> None:
        self.workdir = workdir
        self.logs = workdir / "logs"
        self.stages: dict[str, Stage] = {}
        self.env = {
            **os.environ,
            "JOURNEYMAP_HOME": str(workdir),
            "JOURNEYMAP_DUCKDB": str(workdir / "journeymap.duckdb"),
            "JOURNEYMAP_LANDING": str(workdir / "landing_parquet"),
            "JOURNEYMAP_OUTPUT": str(workdir / "output"),
            "JOURNEYMAP_MODELS": os.environ.get("JOURNEYMAP_MODELS", str(REPO / "models")),
            "JOURNEYMAP_DUCKDB_MEMORY_LIMIT": memory_limit,
            "JOURNEYMAP_DUCKDB_TEMP": str(workdir / "duckdb_tmp"),
            "PYTHONPATH": os.pathsep.join(
                p for p in (str(REPO), str(HERE), os.environ.get("PYTHONPATH", "")) if p
            ),
        }

    def run(self, key: str, label: str, argv: list[str]) -> Stage:
        """Run one stage's process and record it; a failed process stops the benchmark."""
        load = os.getloadavg()
        print(f"  {label} ...", end="", flush=True)
        done: Measured = run_measured(argv, env=self.env, cwd=REPO, log=self.logs / f"{key}.log")
        report = done.report()
        dump = float(report.get("dump_s", 0.0))
        stage = Stage(
            key,
            label,
            wall_s=done.wall_s - dump,
            work_s=float(report["work_s"]) if "work_s" in report else done.wall_s,
            peak_mib=done.peak_mib,
            returncode=done.returncode,
            report=report,
            load_before=load,
        )
        self.stages[key] = stage
        print(f" {stage.wall_s:.1f} s, {stage.peak_mib:,.0f} MiB", flush=True)
        if done.returncode != 0:
            reason = f"killed by signal {done.killed_by}" if done.killed_by else "failed"
            print(f"\n{label}: {reason} (exit {done.returncode}); last output:", file=sys.stderr)
            print((done.stdout + done.stderr)[-6000:], file=sys.stderr)
            raise StageFailedError(key)
        return stage

    def child(self, key: str, label: str, name: str, spec: dict[str, Any]) -> Stage:
        """A stage run by this script's ``--child NAME``."""
        argv = [sys.executable, str(Path(__file__).resolve()), "--child", name]
        return self.run(key, label, [*argv, "--spec", json.dumps(spec)])

    def dbt(self, key: str, label: str) -> Stage:
        """``dbt build`` as the transforms asset runs it (unit tests stay in CI)."""
        argv = [str(DBT), "build", "--exclude-resource-type", "unit_test"]
        argv += ["--project-dir", str(TRANSFORMS), "--profiles-dir", str(TRANSFORMS)]
        argv += ["--target-path", str(self.workdir / "dbt_target")]
        argv += ["--log-path", str(self.logs / "dbt")]
        stage = self.run(key, label, argv)
        results = self.workdir / "dbt_target" / "run_results.json"
        if results.exists():
            timings = {
                r["unique_id"]: r["execution_time"]
                for r in json.loads(results.read_text())["results"]
            }
            stage.report["seconds_by_node"] = dict(
                sorted(timings.items(), key=lambda item: -item[1])
            )
        return stage

    def total(self, key: str, label: str, parts: tuple[str, ...]) -> Stage:
        """A sum of stages: walls and work add up, the peak is the largest."""
        found = [self.stages[p] for p in parts if p in self.stages]
        stage = Stage(
            key,
            label,
            wall_s=sum(s.wall_s or 0.0 for s in found),
            work_s=sum(s.work_s or 0.0 for s in found),
            peak_mib=max((s.peak_mib or 0.0 for s in found), default=0.0),
            parts=parts,
        )
        self.stages[key] = stage
        return stage

    def skip(self, key: str, label: str, reason: str) -> None:
        """Record a stage that was not run, with the reason printed."""
        print(f"  {label}: skipped ({reason})", flush=True)
        self.stages[key] = Stage(key, label, skipped=reason)


class StageFailedError(RuntimeError):
    """A stage's process exited non-zero or was killed."""


def landing_days(landing: Path) -> list[str]:
    """Every day from the first to the last export date of the landing files (as ingest reads
    them from the names)."""
    from journey_mining.sources import landing_files  # noqa: PLC0415

    found = sorted({f.export_date for f in landing_files(landing) if f.export_date is not None})
    if not found:
        msg = f"{landing}: no dated landing files"
        raise SystemExit(msg)
    first, last = found[0], found[-1]
    return [(first + timedelta(days=i)).isoformat() for i in range((last - first).days + 1)]


def funnel_definition(models: Path) -> dict[str, Any]:
    """The journey's stages in order as funnel steps: each stage's first event rule.

    From the first journey model: the stage's first matcher that names a product event, with
    its property conditions; the window is the journey's conversion window.
    """
    from journey_mining.journey_model import load_journey_models  # noqa: PLC0415
    from journey_mining.journey_model.durations import parse_duration  # noqa: PLC0415

    model = sorted(load_journey_models(models), key=lambda m: m.id)[0]
    steps = []
    for stage in model.stages:
        matcher = next((m for m in stage.match if m.event), None)
        if matcher is None:
            continue
        steps.append(
            {
                "name": stage.id,
                "event": matcher.event,
                "where": [[c.property, c.op, c.value] for c in matcher.where],
            }
        )
    return {"journey": model.id, "steps": steps, "window_seconds": parse_duration(model.window)}


def compare(left: Path, right: Path, keys: list[str], value: str) -> dict[str, int]:
    """Rows of two result files keyed by ``keys``: how many, and how many disagree on ``value``."""
    import duckdb  # noqa: PLC0415

    on = " and ".join(f"a.{k} = b.{k}" for k in keys)
    row = (
        duckdb.connect()
        .execute(
            f"select count(a.{value}), count(b.{value}), "
            f"count(*) filter (where a.{value} is distinct from b.{value}), "
            f"coalesce(sum(a.{value}), 0) from read_parquet('{left}') a "
            f"full outer join read_parquet('{right}') b on {on}"
        )
        .fetchone()
    )
    assert row is not None
    return {"left": row[0], "right": row[1], "mismatched": row[2], "total": int(row[3])}


def run_checks(bench: Bench, results: Path) -> list[dict[str, Any]]:
    """Our funnel, variants and DFG against every peer that ran."""
    checks: list[dict[str, Any]] = []
    specs = (
        ("funnel", ["step"], "persons", ("chdb",)),
        ("variants", ["variant"], "cases", ("pm4py", "chdb")),
        ("dfg", ["source", "target"], "transitions", ("pm4py", "chdb")),
    )
    for what, keys, value, peers in specs:
        ours = results / f"ours_{what}.parquet"
        for peer in peers:
            theirs = results / f"{peer}_{what}.parquet"
            if f"{peer}_{what}" not in bench.stages or bench.stages[f"{peer}_{what}"].skipped:
                continue
            figures = compare(ours, theirs, keys, value)
            passed = figures["mismatched"] == 0 and figures["left"] == figures["right"] > 0
            checks.append({"check": f"{what}: ours = {peer}", "passed": passed, **figures})
    return checks


def _applies(events: int, size: int) -> bool:
    return abs(events - size) <= SIZE_TOLERANCE * size


def evaluate_targets(bench: Bench, events: int) -> list[Target]:
    """Each target of the issue: met, missed, or the size it is set at."""
    s = bench.stages
    targets: list[Target] = []

    def sized(text: str, stage: str, size: int, ok: bool, figure: str) -> None:
        verdict = ("met" if ok else "MISSED") if _applies(events, size) else f"n/a (at {size:,})"
        targets.append(Target(text, stage, verdict, figure))

    def work(*keys: str) -> float | None:
        found = [s[k] for k in keys if k in s and not s[k].skipped]
        if len(found) < len(keys):
            return None
        return sum(x.work_s or 0.0 for x in found)

    mining = s.get("mining")
    if mining and mining.work_s is not None:
        sized(
            "mining, all metrics <= 8 s",
            "mining",
            10_000_000,
            mining.work_s <= 8,
            f"{mining.work_s:.1f} s",
        )
    ours_paths, pm4py_paths = work("ours_paths"), work("pm4py_variants", "pm4py_dfg")
    if ours_paths and pm4py_paths:
        ratio = pm4py_paths / ours_paths
        targets.append(
            Target(
                "DFG + variants >= 10x faster than pm4py",
                "paths_vs_pm4py",
                "met" if ratio >= 10 else "MISSED",
                f"{ratio:.1f}x",
            )
        )
    ours_all = work("ours_funnel", "ours_paths")
    chdb_all = work("chdb_funnel", "chdb_variants", "chdb_dfg")
    if ours_all and chdb_all:
        targets.append(
            Target(
                "funnel + variants + DFG faster than chdb",
                "all_vs_chdb",
                "met" if ours_all < chdb_all else "MISSED",
                f"{ours_all:.1f} s vs {chdb_all:.1f} s",
            )
        )
    refresh = s.get("refresh")
    if refresh and refresh.work_s is not None and refresh.peak_mib is not None:
        sized(
            "full refresh Parquet -> map <= 180 s",
            "refresh",
            50_000_000,
            refresh.work_s <= 180,
            f"{refresh.work_s:.0f} s",
        )
        sized(
            "full refresh peak memory <= 8 GiB",
            "refresh",
            50_000_000,
            refresh.peak_mib <= 8192,
            f"{refresh.peak_mib:,.0f} MiB",
        )
    incremental = s.get("incremental")
    if incremental and incremental.work_s is not None:
        sized(
            "incremental daily refresh (1%) <= 20 s",
            "incremental",
            50_000_000,
            incremental.work_s <= 20,
            f"{incremental.work_s:.1f} s",
        )
    failed = [k for k, x in s.items() if x.returncode != 0]
    sized(
        "100M events complete without being killed",
        "all",
        100_000_000,
        not failed,
        "all stages exit 0" if not failed else f"failed: {', '.join(failed)}",
    )
    return targets


BREAKDOWNS = (
    ("ingest_parquet", "seconds"),
    ("dbt", "seconds_by_node"),
    ("mining", "metrics"),
    ("ours_paths", "seconds"),
    ("inc_dbt", "seconds_by_node"),
    ("inc_mining", "metrics"),
)


def _short(node: str) -> str:
    """A dbt node id or a metric name, short: ``test.project.NAME.hash`` -> ``NAME``."""
    parts = node.split(".")
    return parts[2] if parts[0] == "test" and len(parts) > 2 else parts[-1]


def print_table(bench: Bench, targets: list[Target], checks: list[dict[str, Any]]) -> None:
    """The stage table (wall, work, peak, target, result), then the checks."""
    by_stage: dict[str, list[Target]] = {}
    for target in targets:
        by_stage.setdefault(target.stage, []).append(target)
    header = f"{'stage':<34} {'wall s':>8} {'work s':>8} {'peak MiB':>9}  {'target':<42} result"
    print()
    print(header)
    print("-" * len(header))

    def row(label: str, stage: Stage | None, key: str) -> None:
        cells = [f"{label:<34}"]
        if stage is None or stage.skipped:
            cells.append(f"{'skipped' if stage else '':>8} {'':>8} {'':>9}")
        else:
            cells.append(f"{stage.wall_s or 0:>8.1f} {stage.work_s or 0:>8.1f}")
            cells.append(f"{stage.peak_mib or 0:>9,.0f}")
        found = by_stage.get(key, [])
        first = found[0] if found else None
        tail = f"  {first.text:<42} {first.verdict} ({first.figure})" if first else ""
        print(" ".join(cells) + tail)
        for extra in found[1:]:
            print(
                f"{'':<34} {'':>8} {'':>8} {'':>9}  {extra.text:<42} {extra.verdict} "
                f"({extra.figure})"
            )

    for key, stage in bench.stages.items():
        row(stage.label, stage, key)
        if key == "chdb_dfg":
            row("  ours variants+DFG vs pm4py", None, "paths_vs_pm4py")
            row("  ours funnel+variants+DFG vs chdb", None, "all_vs_chdb")
    for target in by_stage.get("all", []):
        print(
            f"{'(every stage)':<34} {'':>8} {'':>8} {'':>9}  {target.text:<42} "
            f"{target.verdict} ({target.figure})"
        )
    print()
    for key, field_name in BREAKDOWNS:
        stage = bench.stages.get(key)
        parts = (stage.report.get(field_name) if stage else None) or {}
        top = sorted(parts.items(), key=lambda item: -item[1])[:5]
        if top:
            named = ", ".join(f"{_short(name)} {sec:.1f}" for name, sec in top)
            print(f"where {stage.label} goes (s): {named}")
    print()
    for check in checks:
        mark = "PASS" if check["passed"] else "FAIL"
        print(
            f"check {check['check']:<22} {mark}: {check['left']:,} vs {check['right']:,} rows, "
            f"{check['mismatched']:,} differ (total {check['total']:,})"
        )


def machine() -> dict[str, Any]:
    """Cores, memory, CPU and the versions that shape the figures."""
    info: dict[str, Any] = {
        "cores": os.cpu_count(),
        "usable_cores": len(os.sched_getaffinity(0)),
        "platform": platform.platform(),
        "python": platform.python_version(),
    }
    meminfo = Path("/proc/meminfo")
    if meminfo.exists():
        total = re.search(r"MemTotal:\s+(\d+) kB", meminfo.read_text())
        info["memory_gib"] = round(int(total.group(1)) / 2**20, 1) if total else None
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        model = re.search(r"model name\s*:\s*(.+)", cpuinfo.read_text())
        info["cpu"] = model.group(1).strip() if model else None
    versions = {}
    for package in (
        "duckdb",
        "polars",
        "pyarrow",
        "pandas",
        "pm4py",
        "chdb",
        "chdb-core",
        "dbt-core",
        "dbt-duckdb",
        "dagster",
    ):
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = None
    info["versions"] = versions
    return info


def main() -> None:
    """Run every stage, check the counts, print the table and write the JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000, help="demo events to generate")
    parser.add_argument("--landing", type=Path, help="use this landing folder, no generation")
    parser.add_argument("--workdir", type=Path, help="work folder (default: a new temp folder)")
    parser.add_argument("--json", type=Path, help="write every figure here")
    parser.add_argument("--skip-peers", action="store_true", help="no pm4py and no chdb")
    parser.add_argument("--skip-incremental", action="store_true", help="no daily increment")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--memory-limit",
        default=os.environ.get("JOURNEYMAP_DUCKDB_MEMORY_LIMIT", "6GB"),
        help="DuckDB memory limit (default 6GB, as the refresh's)",
    )
    parser.add_argument("--child", choices=sorted(CHILDREN), help=argparse.SUPPRESS)
    parser.add_argument("--spec", default="{}", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(CHILDREN[args.child](json.loads(args.spec)), default=str))
        return
    workdir = (args.workdir or Path(tempfile.mkdtemp(prefix="journeymap-bench-"))).absolute()
    for stale in (
        "journeymap.duckdb",
        "json.duckdb",
        "landing_parquet",
        "output",
        "results",
        "dbt_target",
        "duckdb_tmp",
        "logs",
    ):
        path = workdir / stale
        if path.is_dir():
            shutil.rmtree(path)
        elif path.exists():
            path.unlink()
        path.with_name(path.name + ".wal").unlink(missing_ok=True)
    results = workdir / "results"
    results.mkdir(parents=True)
    warn_if_disk_is_short(workdir, 0 if args.landing else args.events)
    bench = Bench(workdir, memory_limit=args.memory_limit)
    started = time.perf_counter()
    print(f"journeymap benchmark in {workdir} ({os.cpu_count()} cores)")
    checks: list[dict[str, Any]] = []
    events = args.events
    try:
        events = run_stages(bench, args, workdir, results)
        checks = run_checks(bench, results)
    except StageFailedError:
        pass
    targets = evaluate_targets(bench, events)
    print_table(bench, targets, checks)
    failed_checks = [c["check"] for c in checks if not c["passed"]]
    failed_stages = [k for k, s in bench.stages.items() if s.returncode != 0]
    total = time.perf_counter() - started
    print(f"\nbenchmark wall time {total:.0f} s; load average now {os.getloadavg()}")
    document = {
        "issue": 8,
        "requested_events": args.events,
        "events": events,
        "machine": machine(),
        "stages": {k: s.as_json() for k, s in bench.stages.items()},
        "targets": [t.__dict__ for t in targets],
        "checks": checks,
        "failed_stages": failed_stages,
        "benchmark_seconds": total,
        "workdir": str(workdir),
    }
    if args.json:
        args.json.write_text(json.dumps(document, indent=2, default=str) + "\n")
        print(f"figures written to {args.json}")
    if failed_checks or failed_stages:
        sys.exit(f"FAILED: checks {failed_checks or 'none'}, stages {failed_stages or 'none'}")


def warn_if_disk_is_short(workdir: Path, events: int) -> None:
    """Say so up front when the work folder's disk looks too small for the run's peak."""
    needed = events * DISK_BYTES_PER_EVENT
    free = shutil.disk_usage(workdir).free
    if free < needed:
        print(
            f"WARNING: {workdir} has {free / 1e9:.0f} GB free; {events:,} events need about "
            f"{needed / 1e9:.0f} GB at their peak (DuckDB file, spill, landing). Use --workdir "
            "on a larger disk, or the run may stop with 'No space left on device'.",
            flush=True,
        )


def run_stages(bench: Bench, args: argparse.Namespace, workdir: Path, results: Path) -> int:
    """Every stage in order; returns the events the run is about (landing lines)."""
    models = Path(bench.env["JOURNEYMAP_MODELS"])
    database = workdir / "journeymap.duckdb"
    parquet_landing = workdir / "landing_parquet"
    if args.landing:
        landing = args.landing.absolute()
        bench.skip("generate", "generate demo landing", f"--landing {landing}")
        events = 0
    else:
        landing = workdir / "landing"
        persons = max(1, round(args.events / EVENTS_PER_PERSON))
        stage = bench.child(
            "generate",
            f"generate demo ({persons:,} persons)",
            "generate",
            {"out": str(workdir), "persons": persons, "seed": args.seed},
        )
        events = int(stage.report["events"])
    days = landing_days(landing)
    json_db = workdir / "json.duckdb"
    stage = bench.child(
        "ingest_json",
        "ingest JSON lines (+ CRM CSV)",
        "ingest",
        {"landing": str(landing), "database": str(json_db), "days": days},
    )
    events = events or int(stage.report["rows_read"])
    bench.child(
        "to_parquet",
        "landing -> Parquet landing (prep)",
        "to_parquet",
        {"database": str(json_db), "landing": str(landing), "out": str(parquet_landing)},
    )
    json_db.unlink()
    bench.child(
        "ingest_parquet",
        "ingest Parquet (+ CRM CSV)",
        "ingest",
        {"landing": str(parquet_landing), "database": str(database), "days": days},
    )
    bench.dbt("dbt", "dbt build (models + tests)")
    bench.child("mining", "mining: all metrics", "mining", {"database": str(database)})
    output = str(workdir / "output")
    bench.child(
        "render", "render journey map", "render", {"database": str(database), "output": output}
    )
    bench.total(
        "refresh", "= full refresh (Parquet -> map)", ("ingest_parquet", "dbt", "mining", "render")
    )
    log = results / "eventlog.parquet"
    stage = bench.child(
        "export", "export event log (prep)", "export", {"database": str(database), "log": str(log)}
    )
    log_events = int(stage.report["events"])
    print(f"  event log: {log_events:,} activities of {stage.report['cases']:,} persons")
    funnel = funnel_definition(models)
    bench.child(
        "ours_funnel",
        "ours (DuckDB): funnel",
        "ours",
        {"task": "funnel", "log": str(log), "out": str(results / "ours_funnel.parquet"), **funnel},
    )
    bench.child(
        "ours_paths",
        "ours (DuckDB): sort, variants, dfg",
        "ours",
        {
            "task": "paths",
            "log": str(log),
            "out_variants": str(results / "ours_variants.parquet"),
            "out_dfg": str(results / "ours_dfg.parquet"),
        },
    )
    run_peers(bench, args, log, results, funnel, log_events)
    if args.skip_incremental:
        bench.skip("incremental", "incremental daily refresh", "--skip-incremental")
        return events
    stage = bench.child(
        "inc_prep",
        "new day with 1% new events (prep)",
        "increment",
        {"database": str(database), "landing": str(parquet_landing), "share": INCREMENT_SHARE},
    )
    bench.child(
        "inc_ingest",
        f"incr: ingest {stage.report['day']}",
        "ingest",
        {"landing": str(parquet_landing), "database": str(database), "days": [stage.report["day"]]},
    )
    bench.dbt("inc_dbt", "incr: dbt build")
    bench.child("inc_mining", "incr: mining", "mining", {"database": str(database)})
    bench.child(
        "inc_render", "incr: render", "render", {"database": str(database), "output": output}
    )
    bench.total(
        "incremental",
        "= incremental daily refresh",
        ("inc_ingest", "inc_dbt", "inc_mining", "inc_render"),
    )
    return events


def run_peers(
    bench: Bench,
    args: argparse.Namespace,
    log: Path,
    results: Path,
    funnel: dict[str, Any],
    log_events: int,
) -> None:
    """pm4py (up to PM4PY_MAX_EVENTS) and chdb on the same log, one task per process."""
    peers = str(HERE / "peers.py")
    size = args.events if not args.landing else log_events
    for peer, tasks in (("pm4py", ("variants", "dfg")), ("chdb", ("funnel", "variants", "dfg"))):
        for task in tasks:
            key, label = f"{peer}_{task}", f"{peer}: {task}"
            if args.skip_peers:
                bench.skip(key, label, "--skip-peers")
                continue
            if peer == "pm4py" and size > PM4PY_MAX_EVENTS:
                bench.skip(
                    key,
                    label,
                    f"{size:,} events > {PM4PY_MAX_EVENTS:,}: pm4py runs "
                    "on the full log only up to 10M events",
                )
                continue
            out = results / f"{key}.parquet"
            argv = [sys.executable, peers, f"{peer}-{task}", str(log), str(out)]
            bench.run(key, label, [*argv, "--spec", json.dumps(funnel)])


if __name__ == "__main__":
    main()
