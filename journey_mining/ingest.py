"""Loading landing files into DuckDB: a file stage, and idempotent daily partitions from it.

Design
------
Files arrive by export day but hold events of earlier days, and an event may be re-sent in a
later file. Rather than re-reading "the files that might hold day D" for every partition, ingest
has two steps, each one DuckDB transaction:

1. :func:`stage_file` parses one landing file and replaces everything earlier staged from it:
   its rows in ``landing.<table>`` (the raw table's columns), its rejects in ``raw.rejects``,
   and its bookkeeping row in ``landing.files`` (content hash, counts, error). A file whose
   content hash is unchanged is skipped, so re-runs are cheap; a file that changed (say a
   truncated upload completed) replaces its earlier rows, so nothing is doubled.
2. :func:`load_partition` replaces ``raw.<table>`` rows of one event day (and optionally one
   source) with the staged rows of that day, keeping one row per key (``KEY_COLUMNS``) across
   *all* staged files: the occurrence in the file with the smallest ``source_file`` name wins.
   Files are named by export day, so the first delivered copy wins, and the choice does not
   depend on which partitions ran first.

:func:`ingest_partition` is what a daily-partitioned asset calls for day D: it stages the files
whose export day is D..D+``late_days`` (plus undated files), then loads partition D. Events
that arrive later than that are still staged by the run for their file's own day; the
:class:`FileReport` lists the event days a file touched (``event_dates``) so a sensor can
re-materialise those partitions. Late events therefore always land in their own day.

Conservation
------------
Per file: ``rows_read = staged + rejected + duplicates_in_file``. Per partition: ``rows_read``
counts the staged rows dated D plus the rejects and in-file duplicates of files exported on D
(a rejected line has no trustworthy event day); then ``rows_read = loaded + rejected +
duplicates_dropped``, where ``loaded`` is counted in ``raw`` after the insert and
``duplicates_dropped`` counts in-file duplicates and staged rows whose key appeared in an
earlier file. Files without a date in their name are accounted for per file only.

Crash safety: each step is one transaction, so a process killed mid-step leaves the previous
committed state (tested with SIGKILL).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import duckdb
import polars as pl

from journey_mining.sources._common import (
    DEFAULT_BATCH_BYTES,
    DEFAULT_MAX_LINE_BYTES,
    KEY_COLUMNS,
    RAW_COLUMNS,
    REJECT_SCHEMA,
    LandingFileError,
)
from journey_mining.sources.registry import (
    LandingFile,
    detect,
    landing_files,
    read_detected,
)

TABLES = tuple(RAW_COLUMNS)
PARTITIONED = tuple(t for t in TABLES if "event_date" in RAW_COLUMNS[t])

_DUCKDB_TYPES: dict[type[pl.DataType], str] = {
    pl.String: "VARCHAR",
    pl.Int64: "BIGINT",
    pl.Int32: "INTEGER",
    pl.Float64: "DOUBLE",
    pl.Datetime: "TIMESTAMP",
    pl.Date: "DATE",
}

_FILES_DDL = """
create table if not exists landing.files (
    source_file varchar primary key,
    shape varchar not null,
    target_table varchar not null,
    source varchar not null,
    content_hash varchar not null,
    size_bytes bigint not null,
    export_date date,
    rows_read bigint not null,
    staged bigint not null,
    rejected bigint not null,
    duplicates_in_file bigint not null,
    error varchar,
    staged_at timestamp not null
)
"""


def _columns_sql(table: str) -> str:
    return ", ".join(
        f"{name} {_DUCKDB_TYPES[type(dtype)]}" for name, dtype in RAW_COLUMNS[table].items()
    )


def ensure_raw_schema(con: duckdb.DuckDBPyConnection) -> None:
    """Create the ``raw`` tables of the data contract and the ``landing`` stage if missing.

    Parameters
    ----------
    con
        An open DuckDB connection (the database file the pipelines write).
    """
    con.execute("create schema if not exists raw")
    con.execute("create schema if not exists landing")
    for table in TABLES:
        columns = _columns_sql(table)
        con.execute(f"create table if not exists raw.{table} ({columns}, loaded_at TIMESTAMP)")
        con.execute(f"create table if not exists landing.{table} ({columns})")
    reject_columns = ", ".join(
        f"{name} {_DUCKDB_TYPES[type(dtype)]}" for name, dtype in REJECT_SCHEMA.items()
    )
    con.execute(f"create table if not exists raw.rejects ({reject_columns}, rejected_at TIMESTAMP)")
    con.execute(_FILES_DDL)


@dataclass(frozen=True)
class FileReport:
    """What staging one landing file did. ``skipped`` when its content was already staged."""

    source_file: str
    table: str
    source: str
    rows_read: int
    staged: int
    rejected: int
    duplicates_in_file: int
    event_dates: tuple[date, ...] = ()
    skipped: bool = False
    error: str | None = None

    @property
    def conserved(self) -> bool:
        """Whether every line read was staged, rejected or counted as a duplicate."""
        return self.rows_read == self.staged + self.rejected + self.duplicates_in_file


@dataclass(frozen=True)
class PartitionReport:
    """Counts for one replaced partition (``partition_date`` None: the whole table)."""

    table: str
    partition_date: date | None
    source: str | None
    rows_read: int
    loaded: int
    rejected: int
    duplicates_dropped: int

    @property
    def conserved(self) -> bool:
        """``rows_read == loaded + rejected + duplicates_dropped``."""
        return self.rows_read == self.loaded + self.rejected + self.duplicates_dropped


@dataclass(frozen=True)
class LoadReport:
    """The result of :func:`ingest_partition`: the partition's counts and each file staged."""

    partition: PartitionReport
    files: tuple[FileReport, ...]

    @property
    def rows_read(self) -> int:
        """Rows read for the partition (see the module docstring for the accounting)."""
        return self.partition.rows_read

    @property
    def loaded(self) -> int:
        """Rows now in the raw table's partition."""
        return self.partition.loaded

    @property
    def rejected(self) -> int:
        """Rejects attributed to the partition."""
        return self.partition.rejected

    @property
    def duplicates_dropped(self) -> int:
        """Duplicates (in-file and across files) attributed to the partition."""
        return self.partition.duplicates_dropped

    @property
    def failed_files(self) -> tuple[FileReport, ...]:
        """Files that could not be read at all, or only up to a break (kept for retry)."""
        return tuple(f for f in self.files if f.error is not None)

    @property
    def other_dates(self) -> tuple[date, ...]:
        """Other event days touched by newly staged files: partitions worth re-running."""
        days = {d for f in self.files if not f.skipped for d in f.event_dates}
        return tuple(sorted(days - {self.partition.partition_date} if days else ()))


def file_hash(path: Path) -> str:
    """SHA-256 of the file's bytes: a file is re-staged only when its content changes."""
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(8 * 1024 * 1024):
            digest.update(chunk)
    return digest.hexdigest()


def _utc_naive(now: datetime | None) -> datetime:
    moment = now if now is not None else datetime.now(UTC)
    return moment.astimezone(UTC).replace(tzinfo=None)


def stage_file(
    con: duckdb.DuckDBPyConnection,
    path: Path,
    *,
    landing_root: Path | None = None,
    force: bool = False,
    batch_bytes: int = DEFAULT_BATCH_BYTES,
    max_line_bytes: int = DEFAULT_MAX_LINE_BYTES,
    now: datetime | None = None,
) -> FileReport:
    """Parse one landing file into the stage, replacing what it staged before, atomically.

    Parameters
    ----------
    con
        DuckDB connection with :func:`ensure_raw_schema` applied.
    path
        The landing file; its shape comes from its landing sub-folder.
    landing_root
        The landing folder; ``source_file`` is recorded relative to it.
    force
        Re-stage even when the content hash is unchanged.

    Returns
    -------
    FileReport
        Counts; ``error`` is set when the file broke off (its readable prefix is staged and
        the file should be kept for a retry).

    Raises
    ------
    LandingFileError
        When nothing in the file can be read (unknown folder, bad CSV header, bad mapping);
        the earlier staged state of the file is kept.
    """
    file = detect(path, landing_root)
    table = file.shape.table
    digest = file_hash(path)
    previous = con.execute(
        "select content_hash, rows_read, staged, rejected, duplicates_in_file, error, source "
        "from landing.files where source_file = ?",
        [file.source_file],
    ).fetchone()
    if previous is not None and previous[0] == digest and not force:
        return FileReport(
            file.source_file,
            table,
            previous[6],
            previous[1],
            previous[2],
            previous[3],
            previous[4],
            skipped=True,
            error=previous[5],
        )
    staged_at = _utc_naive(None)
    con.begin()
    try:
        report = _stage(
            con,
            file,
            digest,
            staged_at,
            batch_bytes=batch_bytes,
            max_line_bytes=max_line_bytes,
            now=now,
        )
        con.commit()
    except BaseException:
        con.rollback()
        raise
    return report


def _stage(
    con: duckdb.DuckDBPyConnection,
    file: LandingFile,
    digest: str,
    staged_at: datetime,
    *,
    batch_bytes: int,
    max_line_bytes: int,
    now: datetime | None,
) -> FileReport:
    table = file.shape.table
    columns = ", ".join(RAW_COLUMNS[table])
    dated = "event_date" in RAW_COLUMNS[table]
    dates: set[date] = set()
    if dated:
        dates.update(_dates(con, table, file.source_file))
    con.execute(f"delete from landing.{table} where source_file = ?", [file.source_file])
    con.execute("delete from raw.rejects where source_file = ?", [file.source_file])
    rows_read = staged = rejected = duplicates = 0
    source = file.source
    error: LandingFileError | None = None
    batches = read_detected(file, batch_bytes=batch_bytes, max_line_bytes=max_line_bytes, now=now)
    for result in batches:
        source = result.source
        rows_read += result.rows_read
        staged += result.rows.height
        rejected += result.rejects.height
        duplicates += result.duplicates
        error = result.error or error
        if result.rows.height:
            batch = result.rows.to_arrow()
            con.register("_stage_batch", batch)
            con.execute(
                f"insert into landing.{table} ({columns}) select {columns} from _stage_batch"
            )
            con.unregister("_stage_batch")
        if result.rejects.height:
            rejects = result.rejects.to_arrow()
            con.register("_stage_rejects", rejects)
            con.execute(
                "insert into raw.rejects select source, source_file, source_line, reason, "
                "raw_text, ?::timestamp from _stage_rejects",
                [staged_at],
            )
            con.unregister("_stage_rejects")
    if dated:
        dates.update(_dates(con, table, file.source_file))
        dates.update(_shared_key_dates(con, table, file.source_file))
    con.execute(
        "insert or replace into landing.files values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            file.source_file,
            file.shape.name,
            table,
            source,
            digest,
            file.path.stat().st_size,
            file.export_date,
            rows_read,
            staged,
            rejected,
            duplicates,
            str(error) if error else None,
            staged_at,
        ],
    )
    return FileReport(
        file.source_file,
        table,
        source,
        rows_read,
        staged,
        rejected,
        duplicates,
        tuple(sorted(dates)),
        error=str(error) if error else None,
    )


def _dates(con: duckdb.DuckDBPyConnection, table: str, source_file: str) -> list[date]:
    rows = con.execute(
        f"select distinct event_date from landing.{table} "
        "where source_file = ? and event_date is not null",
        [source_file],
    ).fetchall()
    return [r[0] for r in rows]


def _key_match(table: str, left: str, right: str) -> str:
    return " and ".join(f"{left}.{k} = {right}.{k}" for k in KEY_COLUMNS[table])


def _shared_key_dates(con: duckdb.DuckDBPyConnection, table: str, source_file: str) -> list[date]:
    rows = con.execute(
        f"select distinct other.event_date from landing.{table} as other "
        f"semi join (select * from landing.{table} where source_file = $file) as mine "
        f"on {_key_match(table, 'other', 'mine')} "
        "where other.source_file <> $file",
        {"file": source_file},
    ).fetchall()
    return [r[0] for r in rows]


def load_partition(
    con: duckdb.DuckDBPyConnection,
    table: str,
    partition_date: date | None,
    *,
    source: str | None = None,
    now: datetime | None = None,
) -> PartitionReport:
    """Replace one event-day partition of a raw table from the stage, in one transaction.

    Parameters
    ----------
    con
        DuckDB connection with :func:`ensure_raw_schema` applied.
    table
        A raw table name (``product_events``, ``crm_activities``, ...).
    partition_date
        The event day (UTC). ``None`` replaces the whole table (``crm_contacts``, a snapshot).
    source
        For ``product_events``: replace only this source's rows (``segment``, ...).

    Returns
    -------
    PartitionReport
        Counts measured in the database after the insert.
    """
    if table not in RAW_COLUMNS:
        msg = f"{table}: not one of the raw tables {', '.join(TABLES)}"
        raise ValueError(msg)
    if partition_date is not None and table not in PARTITIONED:
        msg = f"{table}: not partitioned by event day; pass partition_date=None"
        raise ValueError(msg)
    scope_filters = ["event_date = $day"] if partition_date is not None else []
    params: dict[str, object] = {}
    if partition_date is not None:
        params["day"] = partition_date
    if source is not None:
        if table != "product_events":
            msg = f"{table}: has no source column; source filtering is for product_events"
            raise ValueError(msg)
        scope_filters.append("source = $source")
        params["source"] = source
    columns = ", ".join(RAW_COLUMNS[table])
    where = " and ".join(scope_filters) or "true"
    stage_where = " and ".join(f"s.{f}" for f in scope_filters) or "true"
    earlier = (
        f"exists (select 1 from landing.{table} as e where {_key_match(table, 'e', 's')} "
        "and e.source_file < s.source_file)"
    )
    file_filters = ["target_table = $table"]
    file_params: dict[str, object] = {"table": table}
    if partition_date is not None:
        file_filters.append("export_date = $day")
        file_params["day"] = partition_date
    if source is not None:
        file_filters.append("source = $source")
        file_params["source"] = source
    con.begin()
    try:
        con.execute(f"delete from raw.{table} where {where}", params)
        con.execute(
            f"insert into raw.{table} ({columns}, loaded_at) "
            f"select {columns}, $loaded_at from landing.{table} as s "
            f"where {stage_where} and not {earlier}",
            {**params, "loaded_at": _utc_naive(now)},
        )
        loaded = _count(con, f"select count(*) from raw.{table} where {where}", params)
        staged = _count(
            con, f"select count(*) from landing.{table} as s where {stage_where}", params
        )
        rejected, in_file = _pair(
            con,
            "select coalesce(sum(rejected), 0), coalesce(sum(duplicates_in_file), 0) "
            f"from landing.files where {' and '.join(file_filters)}",
            file_params,
        )
        con.commit()
    except BaseException:
        con.rollback()
        raise
    return PartitionReport(
        table,
        partition_date,
        source,
        rows_read=staged + rejected + in_file,
        loaded=loaded,
        rejected=rejected,
        duplicates_dropped=in_file + staged - loaded,
    )


def _count(con: duckdb.DuckDBPyConnection, sql: str, params: dict[str, object]) -> int:
    row = con.execute(sql, params).fetchone()
    assert row is not None
    return int(row[0])


def _pair(con: duckdb.DuckDBPyConnection, sql: str, params: dict[str, object]) -> tuple[int, int]:
    row = con.execute(sql, params).fetchone()
    assert row is not None
    return int(row[0]), int(row[1])


def files_for_partition(
    landing_root: Path,
    table: str,
    partition_date: date | None,
    *,
    source: str | None = None,
    late_days: int = 3,
) -> list[LandingFile]:
    """Landing files that may hold rows of a partition: exported on D..D+late_days, or undated.

    Sorted by name, which is also the order in which duplicates are resolved.
    """
    chosen = []
    for file in landing_files(landing_root):
        if file.shape.table != table or (source is not None and file.source != source):
            continue
        if (
            partition_date is None
            or file.export_date is None
            or partition_date <= file.export_date <= partition_date + timedelta(days=late_days)
        ):
            chosen.append(file)
    return chosen


def ingest_partition(
    con: duckdb.DuckDBPyConnection,
    table: str,
    partition_date: date | None,
    landing_root: Path,
    *,
    source: str | None = None,
    late_days: int = 3,
    batch_bytes: int = DEFAULT_BATCH_BYTES,
    max_line_bytes: int = DEFAULT_MAX_LINE_BYTES,
    now: datetime | None = None,
) -> LoadReport:
    """Stage the landing files that may hold day D, then replace partition D.

    This is the single call of the daily ingest asset. A file that cannot be read is
    reported in ``LoadReport.failed_files`` (and left in landing); the others still load.

    Examples
    --------
    >>> report = ingest_partition(con, "product_events", date(2026, 7, 3), landing)
    >>> report.rows_read == report.loaded + report.rejected + report.duplicates_dropped
    True
    """
    ensure_raw_schema(con)
    reports: list[FileReport] = []
    for file in files_for_partition(
        landing_root, table, partition_date, source=source, late_days=late_days
    ):
        try:
            reports.append(
                stage_file(
                    con,
                    file.path,
                    landing_root=landing_root,
                    batch_bytes=batch_bytes,
                    max_line_bytes=max_line_bytes,
                    now=now,
                )
            )
        except LandingFileError as exc:
            reports.append(
                FileReport(file.source_file, table, file.source, 0, 0, 0, 0, error=str(exc))
            )
    partition = load_partition(con, table, partition_date, source=source, now=now)
    return LoadReport(partition, tuple(reports))


def ingest_partitions(
    con: duckdb.DuckDBPyConnection,
    table: str,
    partition_dates: Sequence[date],
    landing_root: Path,
    *,
    source: str | None = None,
    late_days: int = 3,
    now: datetime | None = None,
) -> list[LoadReport]:
    """Stage each file the days need once, then replace each day's partition.

    The same result as ``ingest_partition`` per day, without re-hashing a file for every day
    it may hold (a backfill of a month touches each file up to ``late_days + 1`` times).
    """
    ensure_raw_schema(con)
    per_day = {
        day: files_for_partition(landing_root, table, day, source=source, late_days=late_days)
        for day in partition_dates
    }
    staged: dict[str, FileReport] = {}
    for files in per_day.values():
        for file in files:
            if file.source_file in staged:
                continue
            try:
                staged[file.source_file] = stage_file(
                    con, file.path, landing_root=landing_root, now=now
                )
            except LandingFileError as exc:
                staged[file.source_file] = FileReport(
                    file.source_file, table, file.source, 0, 0, 0, 0, error=str(exc)
                )
    return [
        LoadReport(
            load_partition(con, table, day, source=source, now=now),
            tuple(staged[file.source_file] for file in files),
        )
        for day, files in per_day.items()
    ]
