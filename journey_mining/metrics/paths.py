"""Variants and the directly-follows graph of an event log, in DuckDB SQL.

A case's events are ordered by timestamp, then by file order, before anything is counted, so
equal timestamps never reorder a trace (pm4py's own readers can). The log is sorted once into
its compact form (:class:`Traces`: one list of coded steps per case) and every figure reads that.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import duckdb
import polars as pl

from journey_mining.eventlog import read_sql

__all__ = [
    "DirectlyFollows",
    "LogSummary",
    "Traces",
    "Variant",
    "dfg",
    "log_summary",
    "traces",
    "variants",
]

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


_TRACE_IDS = itertools.count(1)
_T = TypeVar("_T")


class Traces:
    """A log in its compact form: each case's activities (as codes) and times, sorted once.

    Built by :func:`traces` into two temp tables of the connection; variants, the DFG and the
    summary each read those instead of sorting the events again.
    """

    def __init__(self, con: duckdb.DuckDBPyConnection, traces: str, activities: str) -> None:
        self.con = con
        self.names = {"traces": traces, "activities": activities}

    def _rows(self, name: str) -> list[tuple[Any, ...]]:
        return self.con.execute(read_sql(name).format(**self.names)).fetchall()

    def variants(self) -> tuple[Variant, ...]:
        """The variants, most frequent first, then by label (see :func:`variants`)."""
        rows = self.variants_frame().iter_rows()
        return tuple(Variant(tuple(a), int(c), float(s)) for a, c, s in rows)

    def variants_frame(self) -> pl.DataFrame:
        """The variants as one frame (``activities``, ``cases``, ``share``): for large logs.

        Counted and sorted in SQL on the activity codes, then named in Polars: for hundreds of
        thousands of variants that is faster than sorting by label. Codes follow the names'
        byte order, so code lists sort as labels do, unless :func:`_codes_sort_as_labels`
        finds names for which they would not; then the labels are sorted instead.
        """
        codes = self.con.sql(f"select code, activity from {self.names['activities']}").pl()
        names = dict(zip(codes["code"].to_list(), codes["activity"].to_list(), strict=True))
        by_codes = _codes_sort_as_labels(list(names.values()))
        sql = read_sql("paths_variants").format(**self.names)
        if by_codes:
            sql = f"select * from ({sql}) order by cases desc, codes"
        counted: pl.DataFrame = self.con.sql(sql).pl()
        frame = counted.select(
            activities=pl.col("codes").list.eval(
                pl.element().replace_strict(names, return_dtype=pl.String)
            ),
            cases=pl.col("cases"),
            share=pl.col("cases") / pl.col("cases").sum(),
        )
        if by_codes:
            return frame
        return frame.sort(
            pl.col("cases"),
            pl.col("activities").list.join(VARIANT_SEPARATOR),
            descending=[True, False],
        )

    def dfg(self) -> tuple[DirectlyFollows, ...]:
        """The directly-follows graph (see :func:`dfg`)."""
        rows = self._rows("paths_dfg")
        return tuple(DirectlyFollows(str(s), str(t), int(c), float(m)) for s, t, c, m in rows)

    def summary(self) -> LogSummary:
        """Cases, events, activities, variants, and the start and end activities."""
        cases, events, n_variants = self.con.execute(
            "select count(*), coalesce(sum(len(steps)), 0), "
            "count(distinct list_transform(steps, lambda step: step.code)) "
            f"from {self.names['traces']}"
        ).fetchall()[0]
        (activities,) = self.con.execute(
            f"select count(activity) from {self.names['activities']}"
        ).fetchall()[0]
        ends: dict[str, dict[str, int]] = {"start": {}, "end": {}}
        for kind, activity, count in self._rows("paths_start_end"):
            ends[kind][str(activity)] = int(count)
        return LogSummary(
            cases=int(cases),
            events=int(events),
            activities=int(activities),
            variants=int(n_variants),
            start_activities=ends["start"],
            end_activities=ends["end"],
        )

    def drop(self) -> None:
        """Free the two temp tables."""
        for name in self.names.values():
            self.con.execute(f"drop table if exists {name}").fetchall()


def traces(
    source: Any,
    *,
    table: str | None = None,
    case_col: str = "person_key",
    activity_col: str = "event",
    timestamp_col: str = "ts",
    order_col: str | None = "activity_seq",
) -> Traces:
    """Sort the log once into its compact form, for several figures from one pass.

    Parameters
    ----------
    source
        A DuckDB connection (with ``table``), a DuckDB relation or a Polars/pandas/Arrow frame.
    table
        The table or view (``schema.table`` allowed) when ``source`` is a connection.
    case_col, activity_col, timestamp_col
        The case (person), activity (event) and timestamp columns.
    order_col
        The file-order column that breaks timestamp ties; with ``None`` (and for whatever
        ties remain) the activity name decides.
    """
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
    number = next(_TRACE_IDS)
    names = {"traces": f"_jm_paths_traces_{number}", "activities": f"_jm_paths_activities_{number}"}
    columns = {
        "relation": relation,
        "case_col": _quote(case_col),
        "activity_col": _quote(activity_col),
        "timestamp_col": _quote(timestamp_col),
        "order_col": f"log.{_quote(order_col)}" if order_col else "1",
        **names,
    }
    for name in ("paths_activities", "paths_traces"):
        con.execute(read_sql(name).format(**columns)).fetchall()
    return Traces(con, **names)


def variants(
    source: Any, *, table: str | None = None, **columns: str | None
) -> tuple[Variant, ...]:
    """Count the variants (distinct activity sequences) of the cases, most frequent first.

    Parameters are those of :func:`traces`. Sorted by count (descending), then by the joined
    label.
    """
    return _once(source, table, columns, Traces.variants)


def dfg(
    source: Any, *, table: str | None = None, **columns: str | None
) -> tuple[DirectlyFollows, ...]:
    """The directly-follows graph: each consecutive activity pair within a case, counted.

    Parameters are those of :func:`traces`. Sorted by count (descending), then source and
    target; ``median_seconds`` is the median time between the two events (the mean of the
    middle two for an even count).
    """
    return _once(source, table, columns, Traces.dfg)


def log_summary(source: Any, *, table: str | None = None, **columns: str | None) -> LogSummary:
    """Cases, events, distinct activities and variants, and start and end activity counts.

    Parameters are those of :func:`traces`.
    """
    return _once(source, table, columns, Traces.summary)


def _once(
    source: Any, table: str | None, columns: dict[str, Any], figure: Callable[[Traces], _T]
) -> _T:
    """One figure from a log sorted for it alone (use :func:`traces` for several)."""
    compact = traces(source, table=table, **columns)
    try:
        return figure(compact)
    finally:
        compact.drop()


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _codes_sort_as_labels(names: list[str | None]) -> bool:
    """Whether code lists (codes in the names' byte order) sort as the joined labels do.

    Two lists first differ at names x < y. If neither is a prefix of the other, their labels
    differ at the same character. If y = x + rest, the labels compare ``rest`` with the
    separator: they agree exactly when ``rest`` sorts after it, which needs a first character
    of at most a space to fail. A missing name (NULL) never sorts as a label does.
    """
    present = [name for name in names if name is not None]
    if len(present) < len(names):
        return False
    known = set(present)
    for name in present:
        for cut, char in enumerate(name):
            rest = name[cut : cut + len(VARIANT_SEPARATOR)]
            if char <= " " and name[:cut] in known and rest <= VARIANT_SEPARATOR:
                return False
    return True
