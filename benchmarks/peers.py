"""The peers of ``benchmarks/run.py``: pm4py and ClickHouse (chDB) on the same event log.

Usage (one task per process, as ``run.py`` starts it):
``python benchmarks/peers.py TASK LOG.parquet OUT.parquet [--spec JSON]`` with TASK one of
``pm4py-variants``, ``pm4py-dfg``, ``chdb-funnel``, ``chdb-variants``, ``chdb-dfg``.

The log has one row per activity: ``person_key`` (the case), ``event`` (the activity), ``ts``
and ``activity_seq`` (the tie-breaker at equal timestamps) and ``properties`` (JSON text).
Each task prints one JSON line: ``work_s`` (reading the log and computing, after the imports)
and ``dump_s`` (writing OUT for the equality check, which run.py does not count).

pm4py trusts the input order at equal timestamps (DESIGN.md, known pins), so its frame is sorted
by case, timestamp and ``activity_seq`` first, with ``object`` string columns, as the project's
pm4py tests do; that sort is part of pm4py's measured work. ClickHouse orders each case's
``groupArray`` by ``(ts, activity_seq)`` and runs ``windowFunnel`` in its default mode (see
benchmarks/README.md for why that mode is FUNNELS.md's ordered funnel).
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

# one character that no event name holds, to key a variant as one string in every engine
VARIANT_JOIN = "\x1f"
LOG_COLUMNS = ("person_key", "event", "ts", "activity_seq")


def _pm4py() -> Any:
    """Import pm4py (quietly: it prints on import), before any timer starts."""
    import contextlib  # noqa: PLC0415
    import io  # noqa: PLC0415

    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        import pm4py  # noqa: PLC0415
    return pm4py


def _pm4py_frame(log: Path) -> tuple[Any, dict[str, str]]:
    import pandas as pd  # noqa: PLC0415

    frame = pd.read_parquet(log, columns=list(LOG_COLUMNS))
    frame = frame.sort_values(["person_key", "ts", "activity_seq"], kind="stable")
    frame = frame.reset_index(drop=True)
    frame["person_key"] = frame["person_key"].astype(object)
    frame["event"] = frame["event"].astype(object)
    keys = {"case_id_key": "person_key", "activity_key": "event", "timestamp_key": "ts"}
    return frame, keys


def pm4py_variants(log: Path, _spec: dict[str, Any]) -> tuple[float, Callable[[], pa.Table]]:
    """``pm4py.get_variants`` on the whole log: variant -> cases."""
    pm4py = _pm4py()
    started = time.perf_counter()
    frame, keys = _pm4py_frame(log)
    found = pm4py.get_variants(frame, **keys)
    work = time.perf_counter() - started
    return work, lambda: pa.table(
        {
            "variant": [VARIANT_JOIN.join(v) for v in found],
            "cases": pa.array(list(found.values()), pa.int64()),
        }
    )


def pm4py_dfg(log: Path, _spec: dict[str, Any]) -> tuple[float, Callable[[], pa.Table]]:
    """``pm4py.discover_dfg`` on the whole log: (source, target) -> transitions."""
    pm4py = _pm4py()
    started = time.perf_counter()
    frame, keys = _pm4py_frame(log)
    graph, _starts, _ends = pm4py.discover_dfg(frame, **keys)
    work = time.perf_counter() - started
    return work, lambda: pa.table(
        {
            "source": [s for s, _ in graph],
            "target": [t for _, t in graph],
            "transitions": pa.array(list(graph.values()), pa.int64()),
        }
    )


def _chdb(sql: str) -> pa.Table:
    import chdb  # noqa: PLC0415 (imported by main before the timer starts)

    table = chdb.query(sql, "ArrowTable")
    assert isinstance(table, pa.Table)
    return table


def _ordered_traces(log: Path) -> str:
    """Per case, the activities ordered by (ts, activity_seq): ClickHouse's groupArray."""
    return (
        "select arrayMap(x -> x.3, arraySort(groupArray((ts, activity_seq, event)))) as trace "
        f"from file({_literal(str(log))}, Parquet) group by person_key"
    )


def chdb_variants(log: Path, _spec: dict[str, Any]) -> tuple[float, Callable[[], pa.Table]]:
    """Variants with ``groupArray``: one ordered trace per case, then cases per trace."""
    started = time.perf_counter()
    table = _chdb(
        f"select arrayStringConcat(trace, {_literal(VARIANT_JOIN)}) as variant, "
        f"toInt64(count()) as cases from ({_ordered_traces(log)}) group by variant"
    )
    return time.perf_counter() - started, lambda: table


def chdb_dfg(log: Path, _spec: dict[str, Any]) -> tuple[float, Callable[[], pa.Table]]:
    """The directly-follows graph from the ``groupArray`` traces: consecutive pairs, counted."""
    started = time.perf_counter()
    table = _chdb(
        "select pair.1 as source, pair.2 as target, toInt64(count()) as transitions "
        f"from ({_ordered_traces(log)}) "
        "array join arrayZip(arrayPopBack(trace), arrayPopFront(trace)) as pair "
        "group by source, target"
    )
    return time.perf_counter() - started, lambda: table


def chdb_funnel(log: Path, spec: dict[str, Any]) -> tuple[float, Callable[[], pa.Table]]:
    """``windowFunnel`` (default mode) per person; step k counts persons whose level >= k."""
    steps = spec["steps"]
    window_us = round(float(spec["window_seconds"]) * 1_000_000)
    conditions = ", ".join(_condition(step) for step in steps)
    started = time.perf_counter()
    levels = _chdb(
        "select toInt64(level) as level, toInt64(count()) as persons from ("
        f"select windowFunnel({window_us})(toUInt64(toUnixTimestamp64Micro(ts)), {conditions})"
        f" as level from file({_literal(str(log))}, Parquet) group by person_key"
        ") group by level"
    )
    by_level = dict(zip(levels["level"].to_pylist(), levels["persons"].to_pylist(), strict=True))
    numbers = list(range(1, len(steps) + 1))
    counts = [sum(n for level, n in by_level.items() if level >= k) for k in numbers]
    work = time.perf_counter() - started
    return work, lambda: pa.table({"step": numbers, "persons": pa.array(counts, pa.int64())})


def _condition(step: dict[str, Any]) -> str:
    """A funnel step as a ClickHouse condition, with FUNNELS.md's meaning of a missing property.

    A missing property reads as '' (``JSONExtractString``), which equals no value of the
    steps, so ``eq``/``in`` fail and ``not_in`` holds for it, as in our engine.
    """
    parts = [f"event = {_literal(step['event'])}"]
    for prop, op, value in step["where"]:
        extracted = f"JSONExtractString(ifNull(properties, '{{}}'), {_literal(prop)})"
        values = [value] if op == "eq" else list(value)
        listed = ", ".join(_literal(str(v)) for v in values)
        if op in {"eq", "in"}:
            parts.append(f"{extracted} in ({listed})")
        elif op == "not_in":
            parts.append(f"{extracted} not in ({listed})")
        else:
            msg = f"operator {op!r} has no ClickHouse translation here (eq, in, not_in)"
            raise ValueError(msg)
    return "(" + " and ".join(parts) + ")"


def _literal(text: str) -> str:
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


TASKS: dict[str, Callable[[Path, dict[str, Any]], tuple[float, Callable[[], pa.Table]]]] = {
    "pm4py-variants": pm4py_variants,
    "pm4py-dfg": pm4py_dfg,
    "chdb-funnel": chdb_funnel,
    "chdb-variants": chdb_variants,
    "chdb-dfg": chdb_dfg,
}


def main(argv: Sequence[str] | None = None) -> None:
    """Run one task, write its result and print its timings as one JSON line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("task", choices=sorted(TASKS))
    parser.add_argument("log", type=Path)
    parser.add_argument("out", type=Path)
    parser.add_argument("--spec", default="{}", help="JSON: the funnel's steps and window")
    args = parser.parse_args(argv)
    if args.task.startswith("chdb"):
        import chdb  # noqa: F401, PLC0415 (the import is not part of the measured work)
    work, result = TASKS[args.task](args.log, json.loads(args.spec))
    started = time.perf_counter()
    table = result()
    pq.write_table(table, args.out)
    dump = time.perf_counter() - started
    print(json.dumps({"work_s": work, "dump_s": dump, "rows": table.num_rows}))


if __name__ == "__main__":
    main()
