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
2. :func:`load_partitions` replaces ``raw.<table>`` rows of some event days (and optionally one
   source) with the staged rows of those days, keeping one row per key (``KEY_COLUMNS``) across
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
import itertools
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import duckdb
import polars as pl
import pyarrow as pa

from journey_mining.sources._common import (
    DEFAULT_BATCH_BYTES,
    DEFAULT_MAX_LINE_BYTES,
    KEY_COLUMNS,
    RAW_COLUMNS,
    REJECT_SCHEMA,
    LandingFileError,
    ReadResult,
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


INGEST_SETTINGS = {
    # DuckDB 2.0 compresses strings with FSST and dictionary+FSST at write time; for ids and
    # JSON blobs that analysis costs more than the write itself (10M events: about half the
    # CPU of a load). Plain dictionary compression stays for low-cardinality columns.
    "disabled_compression_methods": "fsst,dict_fsst",
    # row order inside a stage or raw table means nothing (source_line is stored), and keeping
    # it serialises inserts
    "preserve_insertion_order": "false",
}
"""Settings of a connection that ingests: cheaper writes of wide, high-cardinality rows."""


def configure_for_ingest(con: duckdb.DuckDBPyConnection) -> None:
    """Apply :data:`INGEST_SETTINGS` to an ingesting connection (only to that database).

    The memory bound comes from the connection's own ``memory_limit`` and ``temp_directory``
    (the Dagster resource sets both), so the first-copy join spills instead of growing.
    """
    for name, value in INGEST_SETTINGS.items():
        con.execute(f"set {name} = '{value}'")


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
    [report] = stage_files(
        con,
        [file],
        force=force,
        batch_bytes=batch_bytes,
        max_line_bytes=max_line_bytes,
        now=now,
        raise_unreadable=True,
    )
    return report


def stage_files(
    con: duckdb.DuckDBPyConnection,
    files: Sequence[LandingFile],
    *,
    force: bool = False,
    batch_bytes: int = DEFAULT_BATCH_BYTES,
    max_line_bytes: int = DEFAULT_MAX_LINE_BYTES,
    now: datetime | None = None,
    files_per_commit: int = 200,
    rows_per_commit: int = 1_000_000,
    raise_unreadable: bool = False,
) -> list[FileReport]:
    """Stage many landing files, a group of files per transaction.

    Each file is read batch by batch (``batch_bytes``) and every batch is inserted as it
    comes, so memory holds one batch however large the file or the landing folder. A group
    (up to ``files_per_commit`` files or ``rows_per_commit`` rows) is one transaction: a crash
    keeps whole groups or nothing of one, and the bookkeeping of a group is one statement. A
    file whose content hash is already staged is skipped (unless ``force``). A file that
    cannot be read at all gets a report with ``error`` and keeps its earlier staged state, or
    with ``raise_unreadable`` raises :class:`LandingFileError`. The connection gets
    :data:`INGEST_SETTINGS`.
    """
    configure_for_ingest(con)
    names = [f.source_file for f in files]
    known = {
        row[0]: row[1:]
        for row in con.execute(
            "select source_file, content_hash, rows_read, staged, rejected, "
            "duplicates_in_file, error, source from landing.files "
            "where source_file in (select unnest($names::varchar[]))",
            {"names": names},
        ).fetchall()
    }
    reports: dict[str, FileReport] = {}
    todo: list[tuple[LandingFile, str]] = []
    for file in files:
        digest = file_hash(file.path) if file.path.is_file() else ""
        previous = known.get(file.source_file)
        if previous is not None and previous[0] == digest and not force:
            _, rows_read, staged, rejected, in_file, error, source = previous
            reports[file.source_file] = FileReport(
                file.source_file,
                file.shape.table,
                source,
                rows_read,
                staged,
                rejected,
                in_file,
                skipped=True,
                error=error,
            )
        else:
            todo.append((file, digest))
    group: list[_StagedFile] = []
    done: list[_StagedFile] = []
    rows_in_group = 0
    writer = _StageWriter(con)
    try:
        for file, digest in todo:
            try:
                batches = iter(
                    read_detected(
                        file, batch_bytes=batch_bytes, max_line_bytes=max_line_bytes, now=now
                    )
                )
                first = next(batches, None)
            except LandingFileError as exc:
                if raise_unreadable:
                    raise
                reports[file.source_file] = FileReport(
                    file.source_file, file.shape.table, file.source, 0, 0, 0, 0, error=str(exc)
                )
                continue
            if not group:
                con.begin()
            staged = _StagedFile(file, digest, file.source)
            if file.source_file in known:
                _unstage(con, staged)
            results = itertools.chain([first] if first is not None else [], batches)
            rows_in_group += _write_batches(writer, staged, results)
            group.append(staged)
            if len(group) >= files_per_commit or rows_in_group >= rows_per_commit:
                _commit_group(con, writer, group)
                done.extend(group)
                group, rows_in_group = [], 0
        if group:
            _commit_group(con, writer, group)
            done.extend(group)
    except BaseException:
        writer.discard()
        if group:
            con.rollback()
        raise
    reports.update(_reports(con, done))
    return [reports[name] for name in names]


@dataclass
class _StagedFile:
    """Counts of one landing file while its batches are written into the stage."""

    file: LandingFile
    digest: str
    source: str
    rows_read: int = 0
    staged: int = 0
    rejected: int = 0
    duplicates: int = 0
    error: str | None = None
    dates: set[date] = field(default_factory=set)

    @property
    def table(self) -> str:
        return self.file.shape.table


def _unstage(con: duckdb.DuckDBPyConnection, staged: _StagedFile) -> None:
    """Remove what an earlier version of the file staged (remembering the days it touched)."""
    name = staged.file.source_file
    if "event_date" in RAW_COLUMNS[staged.table]:
        staged.dates.update(day for _, day in _file_dates(con, staged.table, [name]))
    con.execute(f"delete from landing.{staged.table} where source_file = ?", [name])
    con.execute("delete from raw.rejects where source_file = ?", [name])


STAGE_INSERT_ROWS = 262_144
"""Rows (and rejects) gathered from landing files before one insert into the stage."""


class _StageWriter:
    """Inserts staged rows and rejects into the stage in large statements.

    Landing files are often small (a day of one feed: tens of thousands of rows), and each
    insert statement has a fixed cost and runs on one core below a few hundred thousand rows:
    10M events as 355 inserts of about 23,000 rows took 10.2 s, as inserts of 250,000 rows or
    more 4.0 s. So the batches of several files are gathered (:data:`STAGE_INSERT_ROWS`) and
    written together, always before the group's transaction commits.
    """

    def __init__(self, con: duckdb.DuckDBPyConnection) -> None:
        self.con = con
        self.flush_rows = STAGE_INSERT_ROWS
        self.rows: dict[str, list[pa.Table]] = {}
        self.rejects: list[pa.Table] = []
        self.buffered = 0

    def add(self, table: str, rows: pl.DataFrame, rejects: pl.DataFrame) -> None:
        if rows.height:
            self.rows.setdefault(table, []).append(_arrow(rows, RAW_COLUMNS[table]))
        if rejects.height:
            self.rejects.append(_arrow(rejects, REJECT_SCHEMA))
        self.buffered += rows.height + rejects.height
        if self.buffered >= self.flush_rows:
            self.flush()

    def flush(self) -> None:
        """Write everything gathered (inside the caller's transaction)."""
        for table, parts in self.rows.items():
            columns = ", ".join(RAW_COLUMNS[table])
            self._insert(f"landing.{table} ({columns})", parts, columns)
        if self.rejects:
            columns = ", ".join(REJECT_SCHEMA)
            self._insert(
                f"raw.rejects ({columns}, rejected_at)",
                self.rejects,
                f"{columns}, $at::timestamp",
                {"at": _utc_naive(None)},
            )
        self.discard()

    def discard(self) -> None:
        """Forget what is gathered (the group's transaction is rolled back)."""
        self.rows, self.rejects, self.buffered = {}, [], 0

    def _insert(
        self,
        target: str,
        parts: list[pa.Table],
        select: str,
        params: dict[str, object] | None = None,
    ) -> None:
        self.con.register("_stage_rows", pa.concat_tables(parts))
        try:
            self.con.execute(f"insert into {target} select {select} from _stage_rows", params)
        finally:
            self.con.unregister("_stage_rows")


def _arrow(frame: pl.DataFrame, schema: dict[str, pl.DataType]) -> pa.Table:
    """The frame's columns of ``schema``, cast to it, so batches of any reader concatenate."""
    return frame.select(pl.col(name).cast(dtype) for name, dtype in schema.items()).to_arrow()


def _write_batches(writer: _StageWriter, staged: _StagedFile, results: Iterator[ReadResult]) -> int:
    """Hand each batch to the writer as it is read, so memory holds batches, not files."""
    written = 0
    try:
        for result in results:
            staged.source = result.source
            staged.rows_read += result.rows_read
            staged.staged += result.rows.height
            staged.rejected += result.rejects.height
            staged.duplicates += result.duplicates
            if result.error is not None:
                staged.error = str(result.error)
            written += result.rows.height
            writer.add(staged.table, result.rows, result.rejects)
    except LandingFileError as exc:  # broke off mid-file: keep the readable prefix, as a break
        staged.error = str(exc)
    return written


def _commit_group(
    con: duckdb.DuckDBPyConnection, writer: _StageWriter, group: Sequence[_StagedFile]
) -> None:
    """Write the group's gathered rows and its bookkeeping, then commit its transaction."""
    writer.flush()
    _record_group(con, group)
    con.commit()


def _record_group(con: duckdb.DuckDBPyConnection, group: Sequence[_StagedFile]) -> None:
    """Write the group's bookkeeping rows (one statement, inside the group's transaction)."""
    bookkeeping = pl.DataFrame(
        {
            "source_file": [g.file.source_file for g in group],
            "shape": [g.file.shape.name for g in group],
            "target_table": [g.table for g in group],
            "source": [g.source for g in group],
            "content_hash": [g.digest for g in group],
            "size_bytes": [_size(g.file.path) for g in group],
            "export_date": [g.file.export_date for g in group],
            "rows_read": [g.rows_read for g in group],
            "staged": [g.staged for g in group],
            "rejected": [g.rejected for g in group],
            "duplicates_in_file": [g.duplicates for g in group],
            "error": [g.error for g in group],
        },
        schema_overrides={"export_date": pl.Date, "error": pl.String},
    )
    con.register("_stage_files", bookkeeping.to_arrow())
    try:
        con.execute(
            "insert or replace into landing.files select *, $at::timestamp from _stage_files",
            {"at": _utc_naive(None)},
        )
    finally:
        con.unregister("_stage_files")


def _reports(
    con: duckdb.DuckDBPyConnection, staged: Sequence[_StagedFile]
) -> dict[str, FileReport]:
    """Reports of the staged files, with the event days each touched.

    The days are found once per call, not per group: a join of every group against the whole
    stage would cost the stage's size once per group.
    """
    by_table: dict[str, list[_StagedFile]] = {}
    for g in staged:
        by_table.setdefault(g.table, []).append(g)
    for table, files in by_table.items():
        if "event_date" in RAW_COLUMNS[table]:
            by_name = {g.file.source_file: g for g in files}
            rows = sum(g.staged for g in files)
            for name, day in _file_dates(
                con, table, list(by_name), shared_keys=True, staged_rows=rows
            ):
                by_name[name].dates.add(day)
    return {
        g.file.source_file: FileReport(
            g.file.source_file,
            g.table,
            g.source,
            g.rows_read,
            g.staged,
            g.rejected,
            g.duplicates,
            tuple(sorted(g.dates)),
            error=g.error,
        )
        for g in staged
    }


def _size(path: Path) -> int:
    return path.stat().st_size if path.is_file() else 0


def _file_dates(
    con: duckdb.DuckDBPyConnection,
    table: str,
    names: Sequence[str],
    *,
    shared_keys: bool = False,
    staged_rows: int | None = None,
) -> list[tuple[str, date]]:
    """Event days each file's rows fall on; with ``shared_keys``, also the days of other
    files' copies of the same keys (partitions whose first copy may have changed).
    ``staged_rows``, the rows the files staged, picks the cheaper way to find copies."""
    mine = f"select * from landing.{table} where source_file in (select unnest($n::varchar[]))"
    own = f"select distinct source_file, event_date from ({mine}) where event_date is not null"
    if not shared_keys:
        return [(r[0], r[1]) for r in con.execute(own, {"n": list(names)}).fetchall()]
    keys = ", ".join(KEY_COLUMNS[table])
    # only keys staged more than once can have a copy in another file: one aggregate over the
    # stage instead of a join of these files' rows against all of it
    stage = (
        f"landing.{table}"
        if staged_rows is None
        else _stage_sharing_keys(con, table, f"select {keys} from ({mine})", staged_rows)
    )
    sql = (
        f"with copied as (select {keys} from {stage} group by all having count(*) > 1 "
        "and bool_or(source_file in (select unnest($n::varchar[])))), "
        f"mine as (select * from ({mine}) semi join copied using ({keys})) "
        f"{own} union select distinct mine.source_file, other.event_date from mine "
        f"join landing.{table} as other on {_key_match(table, 'other', 'mine')} "
        "where other.event_date is not null and other.source_file <> mine.source_file"
    )
    rows = con.execute(sql, {"n": list(names)}).fetchall()
    return [(r[0], r[1]) for r in rows]


def _stage_sharing_keys(
    con: duckdb.DuckDBPyConnection, table: str, keys_sql: str, rows: int
) -> str:
    """The stage rows an aggregate looking for copies of some rows' keys must read.

    ``keys_sql`` selects those rows' keys and ``rows`` counts them. When they are a small share
    of the stage (a day's files or partitions), only the stage rows sharing a key with them:
    10M staged events, a day's files, 0.2 s instead of 1.0 s. When they are most of it (a
    backfill), the whole stage, as that semi join would cost more than it saves (a backfill's
    partitions at 10M events: 1.7 s against 0.6 s).
    """
    stage = f"landing.{table}"
    total = con.execute(f"select count(*) from {stage}").fetchall()[0][0]
    if rows * 2 >= total:
        return stage
    keys = ", ".join(KEY_COLUMNS[table])
    return f"{stage} semi join ({keys_sql}) using ({keys})"


def _key_match(table: str, left: str, right: str) -> str:
    return " and ".join(f"{left}.{k} = {right}.{k}" for k in KEY_COLUMNS[table])


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
    days = None if partition_date is None else [partition_date]
    return load_partitions(con, table, days, source=source, now=now)[0]


def load_partitions(
    con: duckdb.DuckDBPyConnection,
    table: str,
    partition_dates: Sequence[date] | None,
    *,
    source: str | None = None,
    now: datetime | None = None,
) -> list[PartitionReport]:
    """Replace many event-day partitions at once: one transaction, one pass over the stage.

    The same rows as :func:`load_partition` per day (a row is kept unless a file with a smaller
    name staged the same key), but the first-copy test and the counts run once for all days,
    so a backfill of a quarter costs about what one day does. ``None`` replaces the whole
    (unpartitioned) table. Reports come back in the order of ``partition_dates``.
    """
    if table not in RAW_COLUMNS:
        msg = f"{table}: not one of the raw tables {', '.join(TABLES)}"
        raise ValueError(msg)
    if partition_dates is not None and table not in PARTITIONED:
        msg = f"{table}: not partitioned by event day; pass partition_date=None"
        raise ValueError(msg)
    if source is not None and table != "product_events":
        msg = f"{table}: has no source column; source filtering is for product_events"
        raise ValueError(msg)
    days = sorted(set(partition_dates)) if partition_dates is not None else None
    params: dict[str, object] = {}
    scope = ["true"]
    file_scope = ["target_table = $table"]
    if days is not None:
        scope.append("event_date in (select unnest($days::date[]))")
        file_scope.append("export_date in (select unnest($days::date[]))")
        params["days"] = days
    if source is not None:
        scope.append("source = $source")
        file_scope.append("source = $source")
        params["source"] = source
    where = " and ".join(scope)
    stage_where = " and ".join(f"s.{c}" if c != "true" else c for c in scope)
    day_expr = "event_date" if days is not None else "null::date"
    export_expr = "export_date" if days is not None else "null::date"
    columns = ", ".join(RAW_COLUMNS[table])
    configure_for_ingest(con)
    keys = ", ".join(KEY_COLUMNS[table])
    count = f"select {day_expr}, count(*) from"
    con.begin()
    try:
        staged = _by_day(
            con, f"{count} landing.{table} as s where {stage_where} group by all", params
        )
        # A row loads unless another file with a smaller name staged its key. Only keys staged
        # more than once need that test; finding them is one aggregate (it spills under the
        # memory limit), then a join with a small table, instead of an anti-join against the
        # whole stage.
        ranked = _stage_sharing_keys(
            con,
            table,
            f"select {keys} from landing.{table} as s where {stage_where}",
            sum(staged.values()),
        )
        first_copies = (
            f"select {keys}, min(source_file) as first_file from {ranked} "
            "group by all having count(*) > 1"
        )
        con.execute(f"delete from raw.{table} where {where}", params)
        with _common_subplans_off(con):
            con.execute(
                f"insert into raw.{table} ({columns}, loaded_at) "
                f"with first_copies as ({first_copies}) "
                f"select {', '.join(f's.{c}' for c in RAW_COLUMNS[table])}, $loaded_at "
                f"from landing.{table} as s left join first_copies as f "
                f"on {_key_match(table, 'f', 's')} "
                f"where {stage_where} and (f.first_file is null or s.source_file = f.first_file)",
                {**params, "loaded_at": _utc_naive(now)},
            )
        loaded = _by_day(con, f"{count} raw.{table} where {where} group by all", params)
        file_rows = con.execute(
            f"select {export_expr}, coalesce(sum(rejected), 0), "
            "coalesce(sum(duplicates_in_file), 0) "
            f"from landing.files where {' and '.join(file_scope)} group by all",
            {**params, "table": table},
        ).fetchall()
        con.commit()
    except BaseException:
        con.rollback()
        raise
    rejects = {row[0]: (int(row[1]), int(row[2])) for row in file_rows}
    reports = []
    wanted: list[date | None] = list(partition_dates) if partition_dates is not None else [None]
    for day in wanted:
        rejected, in_file = rejects.get(day, (0, 0))
        n_staged, n_loaded = staged.get(day, 0), loaded.get(day, 0)
        reports.append(
            PartitionReport(
                table,
                day,
                source,
                rows_read=n_staged + rejected + in_file,
                loaded=n_loaded,
                rejected=rejected,
                duplicates_dropped=in_file + n_staged - n_loaded,
            )
        )
    return reports


@contextmanager
def _common_subplans_off(con: duckdb.DuckDBPyConnection) -> Iterator[None]:
    """Turn DuckDB's common-subplan optimizer off for a statement, where it exists.

    In the partition load both sides read the stage with the same filter, and DuckDB 2.0
    materialises that shared scan with every column (the first-copy test needs only the
    keys): at 10M events the insert took 7.9 s instead of 5.3 s.
    """
    known = con.execute(
        "select count(*) from duckdb_optimizers() where name = 'common_subplan'"
    ).fetchall()[0][0]
    if not known:
        yield
        return
    before = con.execute("select current_setting('disabled_optimizers')").fetchall()[0][0]
    off = ",".join(name for name in (before, "common_subplan") if name)
    con.execute(f"set disabled_optimizers = '{off}'")
    try:
        yield
    finally:
        con.execute(f"set disabled_optimizers = '{before}'")


def _by_day(
    con: duckdb.DuckDBPyConnection, sql: str, params: dict[str, object]
) -> dict[date | None, int]:
    return {row[0]: int(row[1]) for row in con.execute(sql, params).fetchall()}


def files_for_partition(
    landing_root: Path,
    table: str,
    partition_date: date | None,
    *,
    source: str | None = None,
    late_days: int = 3,
    listing: Sequence[LandingFile] | None = None,
) -> list[LandingFile]:
    """Landing files that may hold rows of a partition: exported on D..D+late_days, or undated.

    Sorted by name, which is also the order in which duplicates are resolved. ``listing`` is
    the landing folder listed once by the caller (a backfill asks for every day).
    """
    chosen = []
    for file in listing if listing is not None else landing_files(landing_root):
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

    A file that cannot be read is reported in ``LoadReport.failed_files`` (and left in
    landing); the others still load. ``partition_date=None`` replaces a snapshot table.

    Examples
    --------
    >>> report = ingest_partition(con, "product_events", date(2026, 7, 3), landing)
    >>> report.rows_read == report.loaded + report.rejected + report.duplicates_dropped
    True
    """
    [report] = _ingest(
        con,
        table,
        None if partition_date is None else [partition_date],
        landing_root,
        source=source,
        late_days=late_days,
        batch_bytes=batch_bytes,
        max_line_bytes=max_line_bytes,
        now=now,
    )
    return report


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
    """Stage each file the days need once, then replace all the days' partitions at once.

    The same result as ``ingest_partition`` per day, at the cost of about one day: files are
    listed, hashed and staged once, and the partitions are replaced in one transaction. This is
    the single call of the daily ingest asset (a backfill passes its whole range).
    """
    return _ingest(
        con, table, list(partition_dates), landing_root, source=source, late_days=late_days, now=now
    )


def _ingest(
    con: duckdb.DuckDBPyConnection,
    table: str,
    days: list[date] | None,
    landing_root: Path,
    *,
    source: str | None,
    late_days: int,
    now: datetime | None,
    batch_bytes: int = DEFAULT_BATCH_BYTES,
    max_line_bytes: int = DEFAULT_MAX_LINE_BYTES,
) -> list[LoadReport]:
    ensure_raw_schema(con)
    listing = landing_files(landing_root)
    wanted: list[date | None] = list(days) if days is not None else [None]
    per_day = [
        files_for_partition(
            landing_root, table, day, source=source, late_days=late_days, listing=listing
        )
        for day in wanted
    ]
    needed = {file.source_file: file for files in per_day for file in files}
    reports = stage_files(
        con,
        sorted(needed.values(), key=lambda f: f.source_file),
        batch_bytes=batch_bytes,
        max_line_bytes=max_line_bytes,
        now=now,
    )
    staged = {report.source_file: report for report in reports}
    partitions = load_partitions(con, table, days, source=source, now=now)
    return [
        LoadReport(partition, tuple(staged[file.source_file] for file in files))
        for partition, files in zip(partitions, per_day, strict=True)
    ]
