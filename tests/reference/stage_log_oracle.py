"""Hand-built stage marts in DuckDB, and brute-force stage paths and conformance, attempt by attempt.

The marts hold only the columns the mining code reads. Every oracle walks each attempt in
plain Python, so it shares nothing with the SQL it checks.
"""

from __future__ import annotations

import datetime as dt
import itertools
import json
import statistics
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import duckdb
import polars as pl

from tests.reference.marts import add_attempt_columns_to_visits

EPOCH = dt.datetime(2026, 7, 1)
ALL = "all"
START, END = "__start__", "__end__"


@dataclass(frozen=True)
class Attempt:
    """One journey attempt: its visits (stage, seconds after EPOCH) in visit order."""

    person_key: str
    journey_id: str
    stages: tuple[str, ...]
    seconds: tuple[int, ...] = ()
    persona_id: str = "p1"
    status: str = "dropped"
    attempt_number: int = 1
    window_seconds: int = 1_000
    as_of_seconds: int = 10_000

    @property
    def key(self) -> tuple[str, str, int]:
        return (self.person_key, self.journey_id, self.attempt_number)

    @property
    def times(self) -> tuple[int, ...]:
        return self.seconds or tuple(10 * i for i in range(len(self.stages)))

    @property
    def entered(self) -> int:
        return self.times[0]


@dataclass(frozen=True)
class Activity:
    person_key: str
    event: str
    second: int
    seq: int


@dataclass
class Marts:
    attempts: list[Attempt]
    designed: dict[str, tuple[str, ...]]
    activities: list[Activity] = field(default_factory=list)


def at(seconds: int) -> dt.datetime:
    return EPOCH + dt.timedelta(seconds=seconds)


def build(marts: Marts, con: duckdb.DuckDBPyConnection | None = None) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB with schema ``marts`` holding the four tables the metrics read.

    Pass ``con`` to rebuild the marts in an open connection (connecting costs ~50 ms).
    """
    con = con or duckdb.connect()
    con.execute("drop schema if exists marts cascade")
    con.execute("create schema marts")
    visits = [
        {
            "person_key": a.person_key,
            "journey_id": a.journey_id,
            "attempt_number": a.attempt_number,
            "visit_number": number,
            "stage_id": stage,
            "persona_id": a.persona_id,
            "visited_at": at(second),
        }
        for a in marts.attempts
        for number, (stage, second) in enumerate(zip(a.stages, a.times, strict=True), start=1)
    ]
    journeys = [
        {
            "person_key": a.person_key,
            "journey_id": a.journey_id,
            "attempt_number": a.attempt_number,
            "persona_id": a.persona_id,
            "stage_path": " > ".join(a.stages),
            "status": a.status,
            "entered_at": at(a.entered),
            "window_closes_at": at(a.entered + a.window_seconds),
            "as_of_at": at(a.as_of_seconds),
        }
        for a in marts.attempts
    ]
    stages = [
        {
            "journey_id": journey,
            "stage_id": stage,
            "designed_path": json.dumps(list(path)),
            "designed_position": position,
        }
        for journey, path in marts.designed.items()
        for position, stage in enumerate(path, start=1)
    ]
    activities = [
        {
            "event_id": f"e{n}",
            "person_key": x.person_key,
            "event": x.event,
            "ts": at(x.second),
            "activity_seq": x.seq,
        }
        for n, x in enumerate(marts.activities)
    ]
    schemas = {
        "fct_stage_visits": {
            "person_key": pl.String,
            "journey_id": pl.String,
            "attempt_number": pl.Int32,
            "visit_number": pl.Int32,
            "stage_id": pl.String,
            "persona_id": pl.String,
            "visited_at": pl.Datetime("us"),
        },
        "fct_journeys": {
            "person_key": pl.String,
            "journey_id": pl.String,
            "attempt_number": pl.Int32,
            "persona_id": pl.String,
            "stage_path": pl.String,
            "status": pl.String,
            "entered_at": pl.Datetime("us"),
            "window_closes_at": pl.Datetime("us"),
            "as_of_at": pl.Datetime("us"),
        },
        "dim_journey_stages": {
            "journey_id": pl.String,
            "stage_id": pl.String,
            "designed_path": pl.String,
            "designed_position": pl.Int32,
        },
        "fct_activities": {
            "event_id": pl.String,
            "person_key": pl.String,
            "event": pl.String,
            "ts": pl.Datetime("us"),
            "activity_seq": pl.Int64,
        },
    }
    rows = {
        "fct_stage_visits": visits,
        "fct_journeys": journeys,
        "dim_journey_stages": stages,
        "fct_activities": activities,
    }
    for table, schema in schemas.items():
        frame = pl.DataFrame(rows[table], schema=schema, orient="row")
        con.register("_rows", frame)
        con.execute(f"create table marts.{table} as select * from _rows")
        con.unregister("_rows")
    add_attempt_columns_to_visits(con)
    return con


def breakdowns(attempt: Attempt) -> tuple[tuple[str, str], tuple[str, str]]:
    return ((attempt.journey_id, attempt.persona_id), (attempt.journey_id, ALL))


def ranked_variants(
    traces: Iterable[tuple[tuple[str, str], tuple[str, ...], str]],
) -> dict[tuple[str, str], list[dict]]:
    """Per breakdown, the variants as rows in rank order with every stage_variants column."""
    counts: dict[tuple[str, str], dict[tuple[str, ...], Counter]] = defaultdict(
        lambda: defaultdict(Counter)
    )
    for breakdown, trace, status in traces:
        counts[breakdown][trace][status] += 1
    out: dict[tuple[str, str], list[dict]] = {}
    for breakdown, variants in counts.items():
        total = sum(sum(c.values()) for c in variants.values())
        order = sorted(
            variants,
            key=lambda t: (-sum(variants[t].values()), " > ".join(t).encode(), t),
        )
        rows, running = [], 0
        for rank, trace in enumerate(order, start=1):
            persons = sum(variants[trace].values())
            covered_before = running / total
            running += persons
            rows.append(
                {
                    "rank": rank,
                    "variant": " > ".join(trace),
                    "length": len(trace),
                    "persons": persons,
                    "share": persons / total,
                    "cumulative_share": running / total,
                    "in_top_80": covered_before < 0.8,
                    "converted": variants[trace]["converted"],
                    "dropped": variants[trace]["dropped"],
                    "in_progress": variants[trace]["in_progress"],
                    "distinct_variants": len(order),
                }
            )
        out[breakdown] = rows
    return out


def oracle_stage_variants(attempts: Sequence[Attempt]) -> dict[tuple[str, str], list[dict]]:
    return ranked_variants(
        (breakdown, a.stages, a.status) for a in attempts for breakdown in breakdowns(a)
    )


def event_trace(attempt: Attempt, activities: Sequence[Activity]) -> tuple[str, ...]:
    end = min(attempt.entered + attempt.window_seconds, attempt.as_of_seconds)
    mine = [
        x
        for x in activities
        if x.person_key == attempt.person_key and attempt.entered <= x.second <= end
    ]
    return tuple(x.event for x in sorted(mine, key=lambda x: (x.second, x.seq)))


def oracle_event_variants(marts: Marts) -> dict[tuple[str, str], list[dict]]:
    return ranked_variants(
        (breakdown, event_trace(a, marts.activities), a.status)
        for a in marts.attempts
        for breakdown in breakdowns(a)
    )


def oracle_dfg(attempts: Sequence[Attempt]) -> dict[tuple[str, str, str, str], tuple]:
    """(journey, persona, source, target) -> (transitions, persons, median seconds or None)."""
    gaps: dict[tuple[str, str, str, str], list[float | None]] = defaultdict(list)
    holders: dict[tuple[str, str, str, str], set] = defaultdict(set)
    for a in attempts:
        steps = [(START, None), *zip(a.stages, a.times, strict=True), (END, None)]
        for (source, t0), (target, t1) in itertools.pairwise(steps):
            gap = None if t0 is None or t1 is None else float(t1 - t0)
            for journey, persona in breakdowns(a):
                gaps[journey, persona, source, target].append(gap)
                holders[journey, persona, source, target].add(a.key)
    out = {}
    for edge, values in gaps.items():
        timed = [v for v in values if v is not None]
        out[edge] = (len(values), len(holders[edge]), statistics.median(timed) if timed else None)
    return out


def oracle_loops_and_skips(marts: Marts) -> dict[tuple[str, str, str], dict]:
    """(journey, persona, designed stage) -> reached, loops, skipped, reached_later."""
    present = {b for a in marts.attempts for b in breakdowns(a)}
    out = {
        (journey, persona, stage): {
            "designed_position": position,
            "reached": 0,
            "loops": 0,
            "skipped": 0,
            "reached_later": 0,
        }
        for journey, persona in present
        for position, stage in enumerate(marts.designed.get(journey, ()), start=1)
    }
    for a in marts.attempts:
        path = marts.designed.get(a.journey_id, ())
        visits = Counter(a.stages)
        for position, stage in enumerate(path):
            later = any(s in visits for s in path[position + 1 :])
            for journey, persona in breakdowns(a):
                row = out[journey, persona, stage]
                row["reached"] += stage in visits
                row["loops"] += visits[stage] > 1
                row["skipped"] += later and stage not in visits
                row["reached_later"] += later
    for row in out.values():
        row["loop_rate"] = row["loops"] / row["reached"] if row["reached"] else None
        row["skip_rate"] = row["skipped"] / row["reached_later"] if row["reached_later"] else None
    return out


def attempt_deviations(stages: Sequence[str], path: Sequence[str]) -> dict[tuple[str, str], bool]:
    """(deviation, designed stage) -> affected, for every pair the attempt is exposed to."""
    first = {}
    for number, stage in enumerate(stages):
        first.setdefault(stage, number)
    out = {}
    for position, stage in enumerate(path):
        if any(s in first for s in path[position + 1 :]):
            out["skipped_stage", stage] = stage not in first
        if stage in first:
            out["repeated_stage", stage] = stages.count(stage) > 1
            out["out_of_order", stage] = any(
                earlier in first and first[earlier] > first[stage] for earlier in path[:position]
            )
    return out


def oracle_deviations(marts: Marts) -> dict[tuple[str, str, str, str], dict]:
    """(journey, persona, deviation, stage) -> exposure and outcome counts, affected only."""
    out: dict[tuple[str, str, str, str], Counter] = defaultdict(Counter)
    for a in marts.attempts:
        path = marts.designed.get(a.journey_id, ())
        for (deviation, stage), affected in attempt_deviations(a.stages, path).items():
            for journey, persona in breakdowns(a):
                row = out[journey, persona, deviation, stage]
                row["persons_exposed"] += 1
                prefix = "" if affected else "unaffected_"
                row[f"{prefix}persons"] += 1
                row[f"{prefix}{a.status}"] += 1
    result = {}
    for key, c in out.items():
        if not c["persons"]:
            continue
        known = c["persons"] - c["in_progress"]
        unknown = c["unaffected_persons"] - c["unaffected_in_progress"]
        result[key] = {
            "designed_position": marts.designed[key[0]].index(key[3]) + 1,
            "persons_exposed": c["persons_exposed"],
            "persons_affected": c["persons"],
            "converted": c["converted"],
            "in_progress": c["in_progress"],
            "lost_after": c["dropped"],
            "lost_share": c["dropped"] / known if known else None,
            "unaffected_lost_share": c["unaffected_dropped"] / unknown if unknown else None,
        }
    return result


def lcs(a: Sequence[str], b: Sequence[str]) -> int:
    table = [[0] * (len(b) + 1) for _ in range(len(a) + 1)]
    for i, x in enumerate(a, start=1):
        for j, y in enumerate(b, start=1):
            table[i][j] = (
                table[i - 1][j - 1] + 1 if x == y else max(table[i - 1][j], table[i][j - 1])
            )
    return table[-1][-1]


def trace_fitness(trace: Sequence[str], path: Sequence[str]) -> float:
    """Alignment fitness against a sequence model: 1 - cost / (|trace| + |path|)."""
    moves = len(trace) + len(path)
    return 1 - (moves - 2 * lcs(trace, path)) / moves


def oracle_conformance(marts: Marts) -> dict[tuple[str, str], dict]:
    rows: dict[tuple[str, str], list[tuple[tuple[str, ...], tuple[str, ...]]]] = defaultdict(list)
    for a in marts.attempts:
        if a.journey_id in marts.designed:
            for breakdown in breakdowns(a):
                rows[breakdown].append((a.stages, marts.designed[a.journey_id]))
    out = {}
    for breakdown, pairs in rows.items():
        n = len(pairs)
        moves = sum(len(t) + len(p) for t, p in pairs)
        cost = sum(len(t) + len(p) - 2 * lcs(t, p) for t, p in pairs)
        perfect = sum(t == p for t, p in pairs)
        on_path = sum(t == p[: len(t)] for t, p in pairs)
        out[breakdown] = {
            "persons": n,
            "fitness": sum(trace_fitness(t, p) for t, p in pairs) / n,
            "log_fitness": 1 - cost / moves,
            "perfectly_fitting": perfect,
            "perfectly_fitting_share": perfect / n,
            "on_designed_path": on_path,
            "on_designed_path_share": on_path / n,
        }
    return out
