"""Read event logs as people export them (CSV, Parquet, JSON lines, XES) into one DuckDB shape.

Every log becomes a table with the activity-stream columns the metrics read by default:

=================  ===========  ==========================================================
column             type         meaning
=================  ===========  ==========================================================
``activity_seq``   BIGINT       file order (0-based), the tie-breaker after the timestamp
``person_key``     VARCHAR      the person or case id, always a string (``"NA"`` stays)
``event``          VARCHAR      the event or activity name
``ts``             TIMESTAMPTZ  the instant, in UTC
``properties``     JSON         every column (or JSON key, or XES attribute) of the row
=================  ===========  ==========================================================

Timestamps may be ISO 8601 with any offsets (naive ones are UTC), ``YYYY/MM/DD HH:MM:SS.fff``,
epoch seconds or milliseconds (values of 1e11 and above are milliseconds), or follow an explicit
``strptime`` format such as ``%d/%m/%Y %H:%M``.
"""

from __future__ import annotations

import gzip
import io
import json
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path
from typing import Final
from xml.etree.ElementTree import iterparse

import duckdb
import polars as pl

__all__ = ["EventLog", "EventLogError", "read_event_log"]

_DELIMITERS: Final = (",", ";", "\t", "|")
_XES_TRACE: Final = "case:"


class EventLogError(ValueError):
    """An event log could not be read; the message names the file and the problem."""


@dataclass(frozen=True)
class EventLog:
    """A log loaded into DuckDB: the connection, the table name and its size."""

    con: duckdb.DuckDBPyConnection
    table: str
    path: Path
    events: int


def read_event_log(
    path: str | Path,
    *,
    case_col: str,
    activity_col: str,
    timestamp_col: str,
    timestamp_format: str | None = None,
    con: duckdb.DuckDBPyConnection | None = None,
    table: str = "event_log",
) -> EventLog:
    """Load an event log file into a DuckDB table of the activity-stream shape.

    Parameters
    ----------
    path
        ``.csv``/``.tsv``/``.txt`` (comma, semicolon, tab or pipe, detected; optionally
        ``.gz``), ``.parquet``, ``.jsonl``/``.ndjson``/``.json`` (optionally ``.gz``) or
        ``.xes`` (optionally ``.gz``).
    case_col, activity_col, timestamp_col
        The columns (JSON keys, XES attributes) holding the person or case, the event name and
        the time. For XES, trace attributes are named ``case:<key>``; a bare trace key is
        accepted too.
    timestamp_format
        A ``strptime`` format (``%d/%m/%Y %H:%M``) for local formats; ``%z`` reads offsets.
    con
        The connection to load into; a new in-memory one when omitted.
    table
        The name of the (temporary) table created.

    Returns
    -------
    EventLog
        The connection and table holding ``activity_seq, person_key, event, ts, properties``.

    Raises
    ------
    EventLogError
        For a missing file, an unknown format or column, an empty log, an empty id or an
        unparseable timestamp, with a one-line message naming it.
    """
    source = Path(path)
    if not source.is_file():
        msg = f"{source}: no such file"
        raise EventLogError(msg)
    con = con if con is not None else duckdb.connect()
    con.execute("set TimeZone = 'UTC'")
    kind = _kind(source)
    raw = f"_jm_raw_{table}"
    try:
        if kind == "csv":
            _load_csv(con, source, raw)
        elif kind == "parquet":
            con.execute(
                f'create or replace temp table "{raw}" as select * from read_parquet(?)',
                [str(source)],
            )
        elif kind == "json":
            _load_json(con, source, raw)
        else:
            _load_xes(con, source, raw)
    except duckdb.Error as error:
        first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        msg = f"{source}: cannot read as {kind}: {first}"
        raise EventLogError(msg) from error
    if not _scalar(con, f'select count(*) from "{_ident(raw)}"'):
        msg = f"{source}: empty log (no events)"
        raise EventLogError(msg)
    columns = [row[0] for row in con.execute(f'describe "{_ident(raw)}"').fetchall()]
    if kind == "xes":
        case_col = _xes_trace_column(case_col, columns)
    roles = (
        ("person or case id", case_col),
        ("event or activity", activity_col),
        ("timestamp", timestamp_col),
    )
    for role, name in roles:
        if name not in columns:
            msg = f"{source}: unknown {role} column {name!r} (columns: {', '.join(columns)})"
            raise EventLogError(msg)
    _canonical(
        con,
        raw=raw,
        table=table,
        columns=columns,
        case_col=case_col,
        activity_col=activity_col,
        timestamp_col=timestamp_col,
    )
    _check(
        con,
        path=source,
        table=table,
        case_col=case_col,
        activity_col=activity_col,
        timestamp_col=timestamp_col,
        timestamp_format=timestamp_format,
    )
    con.execute(f'drop table "{_ident(raw)}"')
    events = _scalar(con, f'select count(*) from "{table}"')
    return EventLog(con=con, table=table, path=source, events=events)


def _kind(path: Path) -> str:
    suffixes = [s.lower() for s in path.suffixes]
    if suffixes and suffixes[-1] == ".gz":
        suffixes = suffixes[:-1]
    last = suffixes[-1] if suffixes else ""
    kinds = {
        ".csv": "csv",
        ".tsv": "csv",
        ".txt": "csv",
        ".parquet": "parquet",
        ".pq": "parquet",
        ".jsonl": "json",
        ".ndjson": "json",
        ".json": "json",
        ".xes": "xes",
    }
    if last not in kinds:
        msg = f"{path}: unknown log format {last or '(no extension)'!r}"
        msg += " (expected .csv, .tsv, .parquet, .jsonl, .ndjson, .xes, optionally .gz)"
        raise EventLogError(msg)
    return kinds[last]


def _open_text(path: Path) -> io.TextIOBase:
    if path.suffix.lower() == ".gz":
        return io.TextIOWrapper(gzip.open(path, "rb"), encoding="utf-8-sig", errors="replace")
    return path.open(encoding="utf-8-sig", errors="replace")


def _detect_delimiter(path: Path) -> str:
    with _open_text(path) as handle:
        header = handle.readline()
    if not header.strip():
        msg = f"{path}: empty log (no header line)"
        raise EventLogError(msg)
    counts = {d: _count_outside_quotes(header, d) for d in _DELIMITERS}
    best = max(_DELIMITERS, key=lambda d: counts[d])
    return best if counts[best] > 0 else ","


def _count_outside_quotes(line: str, delimiter: str) -> int:
    count, quoted = 0, False
    for char in line:
        if char == '"':
            quoted = not quoted
        elif char == delimiter and not quoted:
            count += 1
    return count


def _load_csv(con: duckdb.DuckDBPyConnection, path: Path, raw: str) -> None:
    delimiter = _detect_delimiter(path)
    con.execute(
        f'create or replace temp table "{raw}" as select * from read_csv(?, delim = ?, '
        "header = true, all_varchar = true, quote = '\"', escape = '\"')",
        [str(path), delimiter],
    )


def _load_json(con: duckdb.DuckDBPyConnection, path: Path, raw: str) -> None:
    con.execute(
        f'create or replace temp table "{raw}" as select json as _jm_object '
        "from read_ndjson_objects(?)",
        [str(path)],
    )
    keys = con.execute(
        f'select distinct unnest(json_keys(_jm_object)) from "{raw}" '
        "where json_type(_jm_object) = 'OBJECT'"
    ).fetchall()
    if _scalar(con, f"select count(*) from \"{raw}\" where json_type(_jm_object) <> 'OBJECT'"):
        msg = f"{path}: every line must be a JSON object"
        raise EventLogError(msg)
    names = sorted(str(k[0]) for k in keys)
    if not names:
        return
    selects = ", ".join(f'json_extract_string(_jm_object, ?) as "{_ident(n)}"' for n in names)
    con.execute(
        f'create or replace temp table "{raw}" as select {selects}, _jm_object from "{raw}"',
        [_json_path(n) for n in names],
    )


def _load_xes(con: duckdb.DuckDBPyConnection, path: Path, raw: str) -> None:
    rows: list[dict[str, str]] = []
    trace_rows: list[dict[str, str]] = []
    trace: dict[str, str] = {}
    event: dict[str, str] | None = None
    in_trace = False
    try:
        with _open_binary(path) as handle:
            for action, element in iterparse(handle, events=("start", "end")):  # noqa: S314 (a local file the analyst chose; expat refuses entity-expansion bombs)
                tag = element.tag.rsplit("}", 1)[-1]
                if action == "start":
                    if tag == "trace":
                        trace, trace_rows, in_trace = {}, [], True
                    elif tag == "event":
                        event = {}
                    continue
                key, value = element.get("key"), element.get("value")
                if tag == "event" and event is not None:
                    trace_rows.append(event)
                    event = None
                elif tag == "trace":
                    for row in trace_rows:
                        row.update(trace)
                    rows.extend(trace_rows)
                    in_trace = False
                    element.clear()
                elif key is not None and value is not None:
                    if event is not None:
                        event.setdefault(key, value)
                    elif in_trace:
                        trace.setdefault(_XES_TRACE + key, value)
    except (OSError, SyntaxError) as error:
        msg = f"{path}: cannot read as XES: {str(error).splitlines()[0]}"
        raise EventLogError(msg) from error
    if not rows:
        msg = f"{path}: empty log (no events)"
        raise EventLogError(msg)
    names = sorted({k for row in rows for k in row})
    frame = pl.DataFrame(
        {n: [row.get(n) for row in rows] for n in names}, schema=dict.fromkeys(names, pl.String)
    )
    con.register("_jm_xes_frame", frame)
    con.execute(f'create or replace temp table "{raw}" as select * from _jm_xes_frame')
    con.unregister("_jm_xes_frame")


def _open_binary(path: Path) -> io.BufferedIOBase:
    if path.suffix.lower() == ".gz":
        return gzip.open(path, "rb")
    return path.open("rb")


def _xes_trace_column(name: str, columns: list[str]) -> str:
    if name.startswith(_XES_TRACE) or (_XES_TRACE + name) not in columns:
        return name
    return _XES_TRACE + name


def _canonical(
    con: duckdb.DuckDBPyConnection,
    *,
    raw: str,
    table: str,
    columns: list[str],
    case_col: str,
    activity_col: str,
    timestamp_col: str,
) -> None:
    params: dict[str, object] = {}
    if "_jm_object" in columns:
        properties = "_jm_object::json"
    else:
        pairs = []
        for index, column in enumerate(columns):
            params[f"key{index}"] = column
            pairs.append(f'$key{index}, raw."{_ident(column)}"')
        properties = f"json_object({', '.join(pairs)})"
    sql = read_sql("eventlog_canonical").format(
        raw=_ident(raw),
        table=_ident(table),
        case_col=_ident(case_col),
        activity_col=_ident(activity_col),
        timestamp_col=_ident(timestamp_col),
        properties=properties,
    )
    con.execute(sql, params)


def _check(
    con: duckdb.DuckDBPyConnection,
    *,
    path: Path,
    table: str,
    case_col: str,
    activity_col: str,
    timestamp_col: str,
    timestamp_format: str | None,
) -> None:
    if not _scalar(con, f'select count(*) from "{table}"'):
        msg = f"{path}: empty log (no events)"
        raise EventLogError(msg)
    for column, name in (("person_key", case_col), ("event", activity_col)):
        row = _first(
            con,
            f"select activity_seq from \"{table}\" where {column} is null or {column} = '' "
            "order by activity_seq limit 1",
        )
        if row is not None:
            msg = f"{path}: row {int(str(row[0])) + 1}: empty value in column {name!r}"
            raise EventLogError(msg)
    if timestamp_format is None:
        parse, params = read_sql("eventlog_parse_timestamp"), {}
    else:
        parse = "try_strptime(trim(ts_text), $timestamp_format)::timestamptz"
        params = {"timestamp_format": timestamp_format}
    try:
        con.execute(
            f'create or replace temp table "{table}" as '
            f'select *, {parse} as ts from "{table}" order by activity_seq',
            params,
        )
    except duckdb.Error as error:
        msg = f"{path}: bad --timestamp-format {timestamp_format!r}: {str(error).splitlines()[0]}"
        raise EventLogError(msg) from error
    bad = _first(
        con,
        f'select activity_seq, ts_text from "{table}" where ts is null '
        "order by activity_seq limit 1",
    )
    if bad is not None:
        hint = f" with format {timestamp_format!r}" if timestamp_format else ""
        msg = (
            f"{path}: row {int(str(bad[0])) + 1}: unparseable timestamp {bad[1]!r}{hint} in column "
            f"{timestamp_col!r} (give --timestamp-format, e.g. '%d/%m/%Y %H:%M')"
        )
        raise EventLogError(msg)
    con.execute(f'alter table "{table}" drop column ts_text')


def read_sql(name: str) -> str:
    """The text of ``journey_mining/sql/<name>.sql``, shipped as package data."""
    return (files("journey_mining") / "sql" / f"{name}.sql").read_text(encoding="utf-8")


def _scalar(con: duckdb.DuckDBPyConnection, sql: str) -> int:
    rows = con.execute(sql).fetchall()
    return int(rows[0][0]) if rows else 0


def _first(con: duckdb.DuckDBPyConnection, sql: str) -> tuple[object, ...] | None:
    rows = con.execute(sql).fetchall()
    return tuple(rows[0]) if rows else None


def _ident(name: str) -> str:
    return name.replace('"', '""')


def _json_path(key: str) -> str:
    return "$." + json.dumps(key)
