"""Variants and the directly-follows graph of an event log, in DuckDB SQL.

A case's events are ordered by timestamp, then by file order, before anything is counted, so
equal timestamps never reorder a trace (pm4py's own readers can).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import duckdb

from journey_mining.eventlog import read_sql

__all__ = ["DirectlyFollows", "LogSummary", "Variant", "dfg", "log_summary", "variants"]

VARIANT_SEPARATOR = " > "


@dataclass(frozen=True)
class Variant:
    """One path through the process: its activities in order, its cases and their share."""

    activities: tuple[str, ...]
    count: int
    share: float

    @property
    def label(self) -> str:
        """The activities joined by ``" > "``."""
        return VARIANT_SEPARATOR.join(self.activities)


@dataclass(frozen=True)
class DirectlyFollows:
    """An edge of the directly-follows graph: ``source`` immediately followed by ``target``."""

    source: str
    target: str
    count: int
    median_seconds: float


@dataclass(frozen=True)
class LogSummary:
    """Sizes of a log and the activities that start and end its cases, with case counts."""

    cases: int
    events: int
    activities: int
    variants: int
    start_activities: dict[str, int]
    end_activities: dict[str, int]


def variants(
    source: Any,
    *,
    table: str | None = None,
    case_col: str = "person_key",
    activity_col: str = "event",
    timestamp_col: str = "ts",
    order_col: str | None = "activity_seq",
) -> tuple[Variant, ...]:
    """Count the variants (distinct activity sequences) of the cases, most frequent first.

    Parameters
    ----------
    source
        A DuckDB connection (with ``table``), a DuckDB relation or a Polars/pandas/Arrow frame.
    table
        The table or view (``schema.table`` allowed) when ``source`` is a connection.
    case_col, activity_col, timestamp_col
        The case (person), activity (event) and timestamp columns.
    order_col
        The file-order column that breaks timestamp ties; ``None`` uses the scan order.

    Returns
    -------
    tuple of Variant
        Sorted by count (descending), then by the joined label.
    """
    con = _prepare(source, table, (case_col, activity_col, timestamp_col), order_col)
    rows = con.execute(read_sql("paths_variants")).fetchall()
    return tuple(Variant(tuple(a), int(c), float(s)) for a, c, s in rows)


def dfg(
    source: Any,
    *,
    table: str | None = None,
    case_col: str = "person_key",
    activity_col: str = "event",
    timestamp_col: str = "ts",
    order_col: str | None = "activity_seq",
) -> tuple[DirectlyFollows, ...]:
    """The directly-follows graph: each consecutive activity pair within a case, counted.

    Parameters are those of :func:`variants`.

    Returns
    -------
    tuple of DirectlyFollows
        Sorted by count (descending), then source and target; ``median_seconds`` is the median
        time between the two events (the mean of the middle two for an even count).
    """
    con = _prepare(source, table, (case_col, activity_col, timestamp_col), order_col)
    rows = con.execute(read_sql("paths_dfg")).fetchall()
    return tuple(DirectlyFollows(str(s), str(t), int(c), float(m)) for s, t, c, m in rows)


def log_summary(
    source: Any,
    *,
    table: str | None = None,
    case_col: str = "person_key",
    activity_col: str = "event",
    timestamp_col: str = "ts",
    order_col: str | None = "activity_seq",
) -> LogSummary:
    """Cases, events, distinct activities and variants, and start and end activity counts.

    Parameters are those of :func:`variants`.
    """
    con = _prepare(source, table, (case_col, activity_col, timestamp_col), order_col)
    totals = con.execute(
        "select count(distinct case_id), count(*), count(distinct activity) from _jm_paths_ordered"
    ).fetchall()[0]
    n_variants = con.execute(
        "select count(distinct activities) from (select list(activity order by position) "
        "as activities from _jm_paths_ordered group by case_id)"
    ).fetchall()[0][0]
    ends: dict[str, dict[str, int]] = {"start": {}, "end": {}}
    for kind, activity, cases in con.execute(read_sql("paths_start_end")).fetchall():
        ends[kind][str(activity)] = int(cases)
    return LogSummary(
        cases=int(totals[0]),
        events=int(totals[1]),
        activities=int(totals[2]),
        variants=int(n_variants),
        start_activities=ends["start"],
        end_activities=ends["end"],
    )


def _prepare(
    source: Any, table: str | None, columns: tuple[str, str, str], order_col: str | None
) -> duckdb.DuckDBPyConnection:
    case_col, activity_col, timestamp_col = columns
    if isinstance(source, duckdb.DuckDBPyConnection):
        if not table:
            msg = "pass table= (a table or view name) with a connection"
            raise ValueError(msg)
        con, relation = source, ".".join(_quote(part) for part in table.split("."))
    else:
        con = duckdb.connect()
        frame = source.arrow() if isinstance(source, duckdb.DuckDBPyRelation) else source
        con.register("_jm_paths_source", frame)
        relation = "_jm_paths_source"
    sql = read_sql("paths_ordered").format(
        relation=relation,
        case_col=_quote(case_col),
        activity_col=_quote(activity_col),
        timestamp_col=_quote(timestamp_col),
        order_col=_quote(order_col) if order_col else "1",
    )
    con.execute(sql).fetchall()
    return con


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'
