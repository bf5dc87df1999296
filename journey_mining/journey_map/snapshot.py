"""Dated, append-only snapshots of the ``mining.*`` tables, for the monthly journey review.

``mining.<table>`` always holds the latest refresh. :func:`snapshot` copies each of them into
``mining.<table>_snapshots`` with five more columns: ``snapshot_period`` (the month under
review, ``YYYY-MM``), ``snapshot_date``, ``snapshot_at``, ``model_hash`` (the SHA-256 of the
journey model that produced the row, so history stays readable after the model changes) and
``snapshot_as_of`` (the journey's as-of time in ``marts.dim_journey_stages``).
``mining.snapshot_log`` records one row per table and snapshot.

The rule, per table and period:

- a period is written once: when the table already has a snapshot of that period, a re-run
  keeps it and writes nothing, so re-running a month never duplicates or overwrites it;
- ``force=True`` writes the period again under ``snapshot_date``. Rows are never deleted,
  except the rows of that very ``(snapshot_period, snapshot_date)`` key when it is forced a
  second time on the same date; readers take a period's latest ``snapshot_date``;
- a table that appears later (a new metric) is snapshotted for the periods it is asked for,
  and a column added to ``mining.<table>`` is added to its snapshots (older rows get null).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime

import duckdb
import polars as pl

__all__ = [
    "SNAPSHOT_COLUMNS",
    "SnapshotResult",
    "latest_snapshot_date",
    "mining_tables",
    "previous_period",
    "previous_period_figures",
    "read_figures",
    "snapshot",
    "snapshot_periods",
    "validate_period",
]

SCHEMA = "mining"
SUFFIX = "_snapshots"
LOG_TABLE = "snapshot_log"
SNAPSHOT_COLUMNS = (
    "snapshot_period",
    "snapshot_date",
    "snapshot_at",
    "model_hash",
    "snapshot_as_of",
)
_PERIOD = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")
_IDENTIFIER = re.compile(r"^[a-z_][a-z0-9_]*$")


@dataclass(frozen=True)
class SnapshotResult:
    """What one :func:`snapshot` call did.

    ``written`` lists the tables copied for the period, ``kept`` those that already had it
    and were left alone, ``rows`` the rows written per table.
    """

    period: str
    snapshot_date: date
    written: tuple[str, ...]
    kept: tuple[str, ...]
    rows: dict[str, int]


def validate_period(period: str) -> str:
    """Return ``period`` when it is a month ``YYYY-MM``; raise ValueError otherwise."""
    if not isinstance(period, str) or not _PERIOD.match(period):
        msg = f"period must be a month written YYYY-MM, got {period!r}"
        raise ValueError(msg)
    return period


def _identifier(name: str) -> str:
    if not _IDENTIFIER.match(name):
        msg = f"not a plain table name: {name!r}"
        raise ValueError(msg)
    return f'"{name}"'


def _table_exists(con: duckdb.DuckDBPyConnection, name: str) -> bool:
    return _exists(con, SCHEMA, name)


def _columns(con: duckdb.DuckDBPyConnection, name: str) -> dict[str, str]:
    rows = con.execute(
        "select column_name, data_type from information_schema.columns "
        "where table_catalog = current_database() and table_schema = ? and table_name = ? "
        "order by ordinal_position",
        [SCHEMA, name],
    ).fetchall()
    return {str(column): str(kind) for column, kind in rows}


def mining_tables(con: duckdb.DuckDBPyConnection) -> tuple[str, ...]:
    """The ``mining`` tables that are snapshotted: every base table but the snapshots and log."""
    rows = con.execute(
        "select table_name from information_schema.tables "
        "where table_catalog = current_database() and table_schema = ? "
        "and table_type = 'BASE TABLE' order by table_name",
        [SCHEMA],
    ).fetchall()
    names = (str(row[0]) for row in rows)
    return tuple(n for n in names if not n.endswith(SUFFIX) and n != LOG_TABLE)


def _ensure_log(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(f"create schema if not exists {SCHEMA}")
    con.execute(
        f"create table if not exists {SCHEMA}.{LOG_TABLE} ("
        "table_name varchar, snapshot_period varchar, snapshot_date date, "
        "snapshot_at timestamp, row_count bigint, forced boolean)"
    )


def _exists(con: duckdb.DuckDBPyConnection, schema: str, table: str) -> bool:
    rows = con.execute(
        "select count(*) from information_schema.tables "
        "where table_catalog = current_database() and table_schema = ? and table_name = ?",
        [schema, table],
    ).fetchall()
    return bool(rows[0][0])


def _journey_facts(con: duckdb.DuckDBPyConnection) -> str:
    hashes = "select null::varchar as journey_id, null::varchar as model_hash where false"
    for schema, table in (("staging", "stg_journey__models"), ("raw", "journey_models")):
        if _exists(con, schema, table):
            hashes = (
                "select journey_id, any_value(model_hash) as model_hash "
                f"from {schema}.{table} group by journey_id"
            )
            break
    as_of = "select null::varchar as journey_id, null::timestamp as as_of where false"
    if _exists(con, "marts", "dim_journey_stages"):
        as_of = (
            "select journey_id, max(as_of_at) as as_of from marts.dim_journey_stages "
            "group by journey_id"
        )
    return (
        "select coalesce(hashes.journey_id, as_of.journey_id) as _journey_id, "
        "hashes.model_hash, as_of.as_of "
        f"from ({hashes}) as hashes full outer join ({as_of}) as as_of "
        "on hashes.journey_id = as_of.journey_id"
    )


def _has_period(con: duckdb.DuckDBPyConnection, table: str, period: str) -> bool:
    rows = con.execute(
        f"select count(*) from {SCHEMA}.{LOG_TABLE} where table_name = ? and snapshot_period = ?",
        [table, period],
    ).fetchall()
    return bool(rows[0][0])


def _prepare_target(con: duckdb.DuckDBPyConnection, table: str) -> None:
    source = f"{SCHEMA}.{_identifier(table)}"
    target = f"{SCHEMA}.{_identifier(table + SUFFIX)}"
    if not _table_exists(con, table + SUFFIX):
        con.execute(
            f"create table {target} as select "
            "null::varchar as snapshot_period, null::date as snapshot_date, "
            "null::timestamp as snapshot_at, null::varchar as model_hash, "
            "null::timestamp as snapshot_as_of, "
            f"source.* from {source} as source limit 0"
        )
        return
    existing = _columns(con, table + SUFFIX)
    for column, kind in _columns(con, table).items():
        if column not in existing:
            con.execute(f'alter table {target} add column "{column}" {kind}')


def _copy(
    con: duckdb.DuckDBPyConnection,
    table: str,
    period: str,
    snapshot_date: date,
    snapshot_at: datetime,
) -> int:
    source = f"{SCHEMA}.{_identifier(table)}"
    target = f"{SCHEMA}.{_identifier(table + SUFFIX)}"
    con.execute(
        f"delete from {target} where snapshot_period = ? and snapshot_date = ?",
        [period, snapshot_date],
    )
    has_journey = "journey_id" in _columns(con, table)
    condition = "facts._journey_id = source.journey_id" if has_journey else "false"
    con.execute(
        f"insert into {target} by name "
        "select ? as snapshot_period, ? as snapshot_date, ? as snapshot_at, "
        "facts.model_hash as model_hash, facts.as_of as snapshot_as_of, source.* "
        f"from {source} as source left join ({_journey_facts(con)}) as facts on {condition}",
        [period, snapshot_date, snapshot_at],
    )
    rows = con.execute(
        f"select count(*) from {target} where snapshot_period = ? and snapshot_date = ?",
        [period, snapshot_date],
    ).fetchall()
    return int(rows[0][0])


def snapshot(
    con: duckdb.DuckDBPyConnection,
    period: str,
    snapshot_date: date | None = None,
    *,
    force: bool = False,
    tables: Sequence[str] | None = None,
) -> SnapshotResult:
    """Copy the ``mining`` tables into their append-only ``<table>_snapshots`` for ``period``.

    Parameters
    ----------
    con
        A writable connection to the journeymap database.
    period
        The month under review, ``YYYY-MM``.
    snapshot_date
        The date the snapshot is taken (default: today in UTC).
    force
        Write the period again even where a snapshot of it exists (see the module's rule);
        the older snapshot is kept and readers take the newest.
    tables
        The ``mining`` tables to copy (default: :func:`mining_tables`).

    Returns
    -------
    SnapshotResult
        The tables written and kept, and the rows written.

    Examples
    --------
    >>> snapshot(con, "2026-10", date(2026, 11, 1)).written  # doctest: +SKIP
    ('conformance', 'deviations', 'loops_and_skips', 'stage_dfg', 'stage_funnel', ...)
    """
    validate_period(period)
    day = snapshot_date or datetime.now(UTC).date()
    at = datetime.now(UTC).replace(tzinfo=None)
    names = tuple(tables) if tables is not None else mining_tables(con)
    written: list[str] = []
    kept: list[str] = []
    rows: dict[str, int] = {}
    con.execute("begin transaction")
    try:
        _ensure_log(con)
        for table in names:
            _identifier(table)
            if not _table_exists(con, table):
                msg = f"mining.{table} does not exist"
                raise ValueError(msg)
            if not force and _has_period(con, table, period):
                kept.append(table)
                continue
            _prepare_target(con, table)
            count = _copy(con, table, period, day, at)
            con.execute(
                f"delete from {SCHEMA}.{LOG_TABLE} "
                "where table_name = ? and snapshot_period = ? and snapshot_date = ?",
                [table, period, day],
            )
            con.execute(
                f"insert into {SCHEMA}.{LOG_TABLE} values (?, ?, ?, ?, ?, ?)",
                [table, period, day, at, count, force],
            )
            written.append(table)
            rows[table] = count
        con.execute("commit")
    except BaseException:
        con.execute("rollback")
        raise
    return SnapshotResult(period, day, tuple(written), tuple(kept), rows)


def snapshot_periods(
    con: duckdb.DuckDBPyConnection, journey_id: str | None = None, table: str = "stage_funnel"
) -> tuple[str, ...]:
    """The periods with a snapshot of ``mining.<table>`` holding ``journey_id``, oldest first."""
    if not _table_exists(con, table + SUFFIX):
        return ()
    target = f"{SCHEMA}.{_identifier(table + SUFFIX)}"
    if journey_id is None:
        rows = con.execute(f"select distinct snapshot_period from {target} order by 1").fetchall()
    else:
        rows = con.execute(
            f"select distinct snapshot_period from {target} where journey_id = ? order by 1",
            [journey_id],
        ).fetchall()
    return tuple(str(row[0]) for row in rows)


def previous_period(
    con: duckdb.DuckDBPyConnection, journey_id: str, period: str, table: str = "stage_funnel"
) -> str | None:
    """The latest snapshot period of ``journey_id`` before ``period``, or None."""
    validate_period(period)
    earlier = [p for p in snapshot_periods(con, journey_id, table) if p < period]
    return earlier[-1] if earlier else None


def latest_snapshot_date(con: duckdb.DuckDBPyConnection, table: str, period: str) -> date | None:
    """The newest ``snapshot_date`` of ``mining.<table>`` for ``period``, or None."""
    if not _table_exists(con, table + SUFFIX):
        return None
    target = f"{SCHEMA}.{_identifier(table + SUFFIX)}"
    rows = con.execute(
        f"select max(snapshot_date) from {target} where snapshot_period = ?", [period]
    ).fetchall()
    value = rows[0][0]
    return value if isinstance(value, date) else None


def read_figures(
    con: duckdb.DuckDBPyConnection,
    table: str,
    journey_id: str,
    period: str | None = None,
) -> pl.DataFrame | None:
    """Rows of ``journey_id`` from ``mining.<table>``, or from its snapshot of ``period``.

    With ``period``, the period's newest snapshot is read (with the snapshot columns);
    without, the live table. None when the table (or the period's snapshot) does not exist.
    """
    if period is None:
        if not _table_exists(con, table):
            return None
        frame: pl.DataFrame = con.sql(
            f"select * from {SCHEMA}.{_identifier(table)} where journey_id = $journey_id",
            params={"journey_id": journey_id},
        ).pl()
        return frame
    day = latest_snapshot_date(con, table, period)
    if day is None:
        return None
    snapshot_frame: pl.DataFrame = con.sql(
        f"select * from {SCHEMA}.{_identifier(table + SUFFIX)} "
        "where snapshot_period = $period and snapshot_date = $day and journey_id = $journey_id",
        params={"period": period, "day": day, "journey_id": journey_id},
    ).pl()
    return snapshot_frame


def previous_period_figures(
    con: duckdb.DuckDBPyConnection,
    journey_id: str,
    period: str,
    table: str = "stage_funnel",
) -> tuple[str, pl.DataFrame] | None:
    """The last period before ``period`` that has a snapshot, and its rows of ``mining.<table>``.

    Returns
    -------
    tuple[str, polars.DataFrame] or None
        The previous period and its newest snapshot's rows for ``journey_id`` (with the
        snapshot columns, ``model_hash`` among them); None when there is no earlier snapshot.
    """
    previous = previous_period(con, journey_id, period, table)
    if previous is None:
        return None
    frame = read_figures(con, table, journey_id, previous)
    if frame is None:
        return None
    return previous, frame
