"""Shared parsing for the landing readers: streamed lines, JSON fields, timestamps, rejects.

Every reader turns one landing file into :class:`ReadResult` batches. The work is vectorised:
a batch of lines is one Arrow/Polars column, JSON is validated and extracted by DuckDB's JSON
functions, and validation is a chain of Polars expressions whose first failing check becomes
the reject reason. Python touches single lines only when a line failed the vectorised path
(invalid UTF-8, whose raw text is decoded lossily for the rejects table).

Error contract
--------------
* A bad row never raises: it becomes a reject with the file, the 1-based physical line and a
  reason that names the problem.
* A file that cannot be trusted at all (missing, CSV header without the required columns,
  unreadable mapping) raises :class:`LandingFileError` before any batch is yielded.
* A compressed file that breaks off (truncated gzip/zstd) yields every complete line before the
  break; the last batch carries ``error``, a :class:`LandingFileError` naming the path and the
  first line that could not be read, so the caller stages the prefix and keeps the file for a
  retry. The partial last line is not counted in ``rows_read``.
"""

from __future__ import annotations

import threading
import zlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import BinaryIO, Literal

import duckdb
import numpy as np
import polars as pl
import pyarrow as pa
import zstandard

DEFAULT_BATCH_BYTES = 64 * 1024 * 1024
"""Decompressed bytes per batch; a batch holds about 2-3x this in memory while parsed."""

DEFAULT_MAX_LINE_BYTES = 16 * 1024 * 1024
"""Lines (or CSV records) longer than this are rejected rather than loaded."""

MIN_TS = datetime(2000, 1, 1)
FUTURE_TOLERANCE = timedelta(days=1)

REJECT_SCHEMA: dict[str, pl.DataType] = {
    "source": pl.String(),
    "source_file": pl.String(),
    "source_line": pl.Int64(),
    "reason": pl.String(),
    "raw_text": pl.String(),
}

TS = pl.Datetime("us")

RAW_COLUMNS: dict[str, dict[str, pl.DataType]] = {
    "product_events": {
        "event_id": pl.String(),
        "event_type": pl.String(),
        "event": pl.String(),
        "user_id": pl.String(),
        "anonymous_id": pl.String(),
        "previous_id": pl.String(),
        "ts": TS,
        "channel": pl.String(),
        "properties": pl.String(),
        "traits": pl.String(),
        "source": pl.String(),
        "source_file": pl.String(),
        "source_line": pl.Int64(),
        "event_date": pl.Date(),
    },
    "crm_contacts": {
        "contact_id": pl.String(),
        "external_id": pl.String(),
        "email": pl.String(),
        "first_name": pl.String(),
        "last_name": pl.String(),
        "company": pl.String(),
        "role": pl.String(),
        "company_size": pl.Int32(),
        "segment": pl.String(),
        "lifecycle_stage": pl.String(),
        "created_at": TS,
        "source_file": pl.String(),
        "source_line": pl.Int64(),
    },
    "crm_activities": {
        "activity_id": pl.String(),
        "contact_id": pl.String(),
        "activity_type": pl.String(),
        "channel": pl.String(),
        "ts": TS,
        "subject": pl.String(),
        "source_file": pl.String(),
        "source_line": pl.Int64(),
        "event_date": pl.Date(),
    },
    "crm_deal_stage_changes": {
        "deal_id": pl.String(),
        "contact_id": pl.String(),
        "deal_stage": pl.String(),
        "amount": pl.Float64(),
        "ts": TS,
        "source_file": pl.String(),
        "source_line": pl.Int64(),
        "event_date": pl.Date(),
    },
    "crm_survey_responses": {
        "response_id": pl.String(),
        "contact_id": pl.String(),
        "survey_type": pl.String(),
        "score": pl.Int32(),
        "comment": pl.String(),
        "channel": pl.String(),
        "ts": TS,
        "source_file": pl.String(),
        "source_line": pl.Int64(),
        "event_date": pl.Date(),
    },
}
"""Columns of each ``raw`` table (data contract section 2) without ``loaded_at``."""

KEY_COLUMNS: dict[str, tuple[str, ...]] = {
    "product_events": ("event_id",),
    "crm_contacts": ("contact_id",),
    "crm_activities": ("activity_id",),
    "crm_deal_stage_changes": ("deal_id", "deal_stage", "ts"),
    "crm_survey_responses": ("response_id",),
}
"""The columns that identify a row; the first occurrence wins, later ones are duplicates."""


class LandingFileError(Exception):
    """A landing file that cannot be read (entirely, or from ``line`` on)."""

    def __init__(self, path: str, message: str, line: int | None = None) -> None:
        self.path = path
        self.line = line
        self.problem = message
        where = f"{path}:{line}" if line is not None else path
        super().__init__(f"{where}: {message}")


@dataclass(frozen=True)
class ReadResult:
    """Rows and rejects read from one landing file (or one batch of it).

    ``rows`` has exactly the raw table's columns (``RAW_COLUMNS[table]``), ``rejects`` the
    columns of ``REJECT_SCHEMA``. Conservation: ``rows_read == len(rows) + len(rejects) +
    duplicates``. ``error`` is set when the file broke off and the tail could not be read.
    """

    table: str
    source: str
    source_file: str
    rows: pl.DataFrame
    rejects: pl.DataFrame
    rows_read: int
    duplicates: int = 0
    error: LandingFileError | None = None

    @property
    def conserved(self) -> bool:
        """Whether every line read is a row, a reject or a counted duplicate."""
        return self.rows_read == self.rows.height + self.rejects.height + self.duplicates


def empty_rows(table: str) -> pl.DataFrame:
    """An empty frame with the raw table's columns."""
    return pl.DataFrame(schema=RAW_COLUMNS[table])


def empty_rejects() -> pl.DataFrame:
    """An empty rejects frame."""
    return pl.DataFrame(schema=REJECT_SCHEMA)


def combine(results: Sequence[ReadResult]) -> ReadResult:
    """Concatenate the batches of one file into a single result."""
    first = results[0]
    return ReadResult(
        table=first.table,
        source=first.source,
        source_file=first.source_file,
        rows=pl.concat([r.rows for r in results], how="vertical"),
        rejects=pl.concat([r.rejects for r in results], how="vertical"),
        rows_read=sum(r.rows_read for r in results),
        duplicates=sum(r.duplicates for r in results),
        error=results[-1].error,
    )


# --------------------------------------------------------------------------- bytes and lines

Compression = Literal["gzip", "zstd", "none"]


def compression_of(path: Path) -> Compression:
    """The compression implied by the file name (``.gz``, ``.zst``), else none."""
    suffix = path.suffix.lower()
    if suffix in {".gz", ".gzip"}:
        return "gzip"
    if suffix in {".zst", ".zstd"}:
        return "zstd"
    return "none"


class _TruncatedError(Exception):
    pass


def _decompressed_chunks(path: Path, read_size: int = 4 * 1024 * 1024) -> Iterator[bytes]:
    """Yield the decompressed bytes; raise ``_TruncatedError`` after the last good byte."""
    kind = compression_of(path)
    with path.open("rb") as fh:
        if kind == "none":
            while chunk := fh.read(read_size):
                yield chunk
            return
        yield from _stream_frames(fh, kind, read_size)


def _stream_frames(fh: BinaryIO, kind: Compression, read_size: int) -> Iterator[bytes]:
    def new() -> zlib._Decompress | zstandard.ZstdDecompressionObj:
        if kind == "gzip":
            return zlib.decompressobj(wbits=47)
        return zstandard.ZstdDecompressor().decompressobj()

    dec = new()
    in_frame = False
    try:
        while comp := fh.read(read_size):
            while comp:
                if not in_frame:
                    dec = new()
                    in_frame = True
                out = dec.decompress(comp)
                if out:
                    yield out
                if dec.eof:
                    in_frame = False
                    comp = dec.unused_data
                else:
                    comp = b""
    except (zlib.error, zstandard.ZstdError) as exc:
        raise _TruncatedError(str(exc)) from exc
    if in_frame:
        msg = "compressed stream ends before its end marker"
        raise _TruncatedError(msg)


@dataclass(frozen=True)
class LineBatch:
    """One batch of physical lines: ``source_line``, ``text`` (null if not UTF-8), ``bad_text``
    (lossy text of non-UTF-8 lines), ``nbytes``; ``error`` when the file broke off after it."""

    lines: pl.DataFrame
    error: LandingFileError | None = None


def _lines_frame(buf: bytes, first_line: int) -> pl.DataFrame:
    arr = np.frombuffer(buf, dtype=np.uint8)
    newlines = np.flatnonzero(arr == 10)
    n = len(newlines)
    offsets = np.empty(n + 1, dtype=np.int64)
    offsets[0] = 0
    offsets[1:] = newlines + 1
    binary = pa.LargeBinaryArray.from_buffers(
        pa.large_binary(), n, [None, pa.py_buffer(offsets), pa.py_buffer(buf)]
    )
    bad_text: pa.Array | None = None
    try:
        text = binary.cast(pa.large_string())
    except pa.ArrowInvalid:
        text, bad_text = _decode_lines(binary)
    frame = pl.DataFrame(
        {
            "source_line": pl.int_range(first_line, first_line + n, dtype=pl.Int64, eager=True),
            "text": pl.Series(values=text, dtype=pl.String),
            "bad_text": (
                pl.Series(values=bad_text, dtype=pl.String)
                if bad_text is not None
                else pl.Series(values=[None] * n, dtype=pl.String)
            ),
            "nbytes": pl.Series(values=np.diff(offsets) - 1, dtype=pl.Int64),
        }
    )
    return frame.with_columns(
        pl.col("text").str.strip_chars_end("\r\n"), pl.col("bad_text").str.strip_chars_end("\r\n")
    )


def _decode_lines(binary: pa.LargeBinaryArray) -> tuple[pa.Array, pa.Array | None]:
    """UTF-8 text per line (null where invalid) and, for invalid lines only, a lossy copy."""
    con = _json_connection()
    con.register("lines", pa.table({"b": binary}))
    try:
        decoded = con.sql("select try(decode(b)) as t from lines").to_arrow_table().column("t")
    finally:
        con.unregister("lines")
    decoded = decoded.combine_chunks()
    invalid = np.flatnonzero(~np.asarray(decoded.is_valid(), dtype=bool))
    if invalid.size == 0:
        return decoded, None
    bad: list[str | None] = [None] * len(binary)
    for i in invalid:  # only the rare undecodable lines, for the reject's raw text
        bad[i] = binary[int(i)].as_py().decode("utf-8", "replace")
    return decoded, pa.array(bad, type=pa.large_string())


def iter_line_batches(path: Path, source_file: str, batch_bytes: int) -> Iterator[LineBatch]:
    """Yield the file's physical lines in batches of about ``batch_bytes``.

    A UTF-8 byte-order mark at the start is dropped. A final line without a newline is read
    when the stream ended cleanly, and dropped (the break) when it was truncated.
    """
    if not path.is_file():
        msg = "file not found"
        raise LandingFileError(source_file, msg)
    next_line = 1
    carry = b""
    pending: list[bytes] = []
    pending_size = 0
    first = True
    chunks = _decompressed_chunks(path, min(batch_bytes, 4 * 1024 * 1024))
    while True:
        try:
            chunk = next(chunks)
        except StopIteration:
            break
        except _TruncatedError as exc:
            tail = b"".join([carry, *pending])
            cut = tail.rfind(b"\n") + 1
            batch = _lines_frame(tail[:cut], next_line) if cut else _lines_frame(b"", next_line)
            next_line += batch.height
            msg = f"file is truncated ({exc}); lines from here on are not read"
            yield LineBatch(batch, LandingFileError(source_file, msg, next_line))
            return
        if first:
            chunk = chunk.removeprefix(b"\xef\xbb\xbf")
            first = False
        pending.append(chunk)
        pending_size += len(chunk)
        if pending_size < batch_bytes:
            continue
        buf = b"".join([carry, *pending])
        pending, pending_size = [], 0
        cut = buf.rfind(b"\n") + 1
        carry = buf[cut:]
        if cut:
            batch = _lines_frame(buf[:cut], next_line)
            next_line += batch.height
            yield LineBatch(batch)
    tail = b"".join([carry, *pending])
    if tail and not tail.endswith(b"\n"):
        tail += b"\n"
    yield LineBatch(_lines_frame(tail, next_line))


# --------------------------------------------------------------------------- JSON fields

FieldKind = Literal["text", "id", "object", "time"]

_ACCEPTED_TYPES: dict[str, tuple[frozenset[str], str]] = {
    "text": (frozenset({"VARCHAR"}), "a string"),
    "id": (frozenset({"VARCHAR", "BIGINT", "UBIGINT"}), "a string or an integer"),
    "object": (frozenset({"OBJECT"}), "an object"),
    "time": (frozenset({"VARCHAR", "BIGINT", "UBIGINT", "DOUBLE"}), "a string or a number"),
}


@dataclass(frozen=True)
class JsonField:
    """A field of a JSON line: its name in reasons, its JSON path and its expected kind."""

    name: str
    kind: FieldKind = "text"

    @property
    def path(self) -> str:
        """The DuckDB JSON path of the field (dots are nesting)."""
        return "$." + ".".join(f'"{part}"' for part in self.name.split("."))


_THREAD = threading.local()


def _json_connection() -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB per thread for JSON parsing: opening one costs ~20 ms a batch."""
    con: duckdb.DuckDBPyConnection | None = getattr(_THREAD, "json_con", None)
    if con is None:
        con = duckdb.connect()
        _THREAD.json_con = con
    return con


def parse_json_lines(
    lines: pl.DataFrame, fields: Sequence[JsonField], max_line_bytes: int
) -> pl.DataFrame:
    """Extract the fields of every line; lines that fail get a ``reason``.

    Returns the line frame plus one String column per field (JSON text for objects) and
    ``reason`` (null when the line is a well-formed JSON object whose fields have the right
    types). Blank lines are dropped: they are not rows.
    """
    lines = lines.filter(pl.col("text").is_null() | (pl.col("text").str.strip_chars() != ""))
    lines = lines.with_columns(
        reason=pl.when(pl.col("text").is_null())
        .then(pl.lit("line is not valid UTF-8"))
        .when(pl.col("nbytes") > max_line_bytes)
        .then(
            pl.format(
                "line is {} bytes, above the limit of {} bytes",
                pl.col("nbytes"),
                pl.lit(max_line_bytes),
            )
        )
    )
    candidates = lines.filter(pl.col("reason").is_null()).select("source_line", "text")
    con = _json_connection()
    con.register("candidates", candidates.to_arrow())
    try:
        broken = con.sql(
            "select source_line, case when json_valid(text) then 'line is not a JSON object' "
            "else 'malformed JSON' end as json_reason from candidates "
            "where not (json_valid(text) and starts_with(ltrim(text), '{'))"
        ).pl()
        extracted = _extract_fields(con, fields)
    finally:
        con.unregister("candidates")
    if broken.height:
        lines = lines.join(broken, on="source_line", how="left", maintain_order="left")
        lines = lines.with_columns(reason=pl.coalesce("reason", "json_reason")).drop("json_reason")
    lines = lines.join(extracted, on="source_line", how="left", maintain_order="left")
    lines = with_reasons(lines, *(_type_check(f) for f in fields))
    return lines.drop(f"{f.name}#type" for f in fields)


def _extract_fields(con: duckdb.DuckDBPyConnection, fields: Sequence[JsonField]) -> pl.DataFrame:
    paths = [f.path for f in fields]
    object_paths = [f.path for f in fields if f.kind == "object"]
    object_sql = "json_extract(text, $obj)::varchar[]" if object_paths else "[]::varchar[]"
    result = con.sql(
        f"select source_line, json_extract_string(text, $paths) as s, "
        f"{object_sql} as o, json_type(text, $paths) as t from candidates "
        "where json_valid(text) and starts_with(ltrim(text), '{')",
        params={"paths": paths, **({"obj": object_paths} if object_paths else {})},
    ).pl()
    columns: list[pl.Expr] = []
    obj_index = 0
    for i, f in enumerate(fields):
        if f.kind == "object":
            value = pl.col("o").list.get(obj_index, null_on_oob=True)
            obj_index += 1
        else:
            value = pl.col("s").list.get(i, null_on_oob=True)
        columns.append(value.alias(f.name))
        columns.append(pl.col("t").list.get(i, null_on_oob=True).alias(f"{f.name}#type"))
    schema = {
        "source_line": pl.Int64(),
        **{c: pl.String() for f in fields for c in (f.name, f"{f.name}#type")},
    }
    if result.height == 0:
        return pl.DataFrame(schema=schema)
    frame: pl.DataFrame = result.select(pl.col("source_line").cast(pl.Int64), *columns)
    return frame


def _type_check(f: JsonField) -> Check:
    accepted, expected = _ACCEPTED_TYPES[f.kind]
    kind = pl.col(f"{f.name}#type")
    return Check(
        kind.is_not_null() & (kind != "NULL") & ~kind.is_in(list(accepted)),
        pl.format(f"field '{f.name}' is {{}}, expected {expected}", kind.str.to_lowercase()),
    )


# --------------------------------------------------------------------------- checks


@dataclass(frozen=True)
class Check:
    """A validation: rows where ``fails`` holds are rejected with ``reason``."""

    fails: pl.Expr
    reason: pl.Expr


def missing(column: str, label: str | None = None) -> Check:
    """A required field that is null or empty."""
    col = pl.col(column)
    return Check(
        col.is_null() | col.str.contains(r"^\s*$"), pl.lit(f"missing field '{label or column}'")
    )


def quoted(value: pl.Expr, limit: int = 80) -> pl.Expr:
    """A value for a reason: single-quoted and shortened."""
    text = value.cast(pl.String)
    short = (
        pl.when(text.str.len_chars() > limit)
        .then(text.str.slice(0, limit) + pl.lit("..."))
        .otherwise(text)
    )
    return pl.lit("'") + short + pl.lit("'")


def parse_iso_with_offset(raw: pl.Expr) -> pl.Expr:
    """ISO 8601 text with ``Z`` or an offset -> naive UTC datetime (null when unparseable).

    Mixed offsets in one column are converted to the same UTC instant scale.
    """
    normal = _iso_normal(raw)
    parsed = normal.str.to_datetime("%Y-%m-%dT%H:%M:%S%.f%z", strict=False, time_unit="us")
    return parsed.dt.convert_time_zone("UTC").dt.replace_time_zone(None)


def _iso_normal(raw: pl.Expr) -> pl.Expr:
    return (
        raw.str.strip_chars()
        .str.replace(r"[Zz]$", "+00:00")
        .str.replace(r"^(\d{4}-\d{2}-\d{2}) ", "${1}T")
    )


def iso_offset_reason(raw: pl.Expr, parsed: pl.Expr, label: str) -> list[Check]:
    """Why an ISO-with-offset timestamp did not parse: no offset, or not ISO 8601."""
    normal = _iso_normal(raw)
    naive = pl.coalesce(
        normal.str.to_datetime("%Y-%m-%dT%H:%M:%S%.f", strict=False, time_unit="us"),
        normal.str.to_datetime("%Y-%m-%d", strict=False, time_unit="us"),
    )
    failed = raw.is_not_null() & parsed.is_null()
    return [
        Check(
            failed,
            pl.when(naive.is_not_null())
            .then(
                pl.format(
                    "{} {} has no UTC offset (Z or +hh:mm is required)", pl.lit(label), quoted(raw)
                )
            )
            .otherwise(pl.format("{} {} is not ISO 8601", pl.lit(label), quoted(raw))),
        )
    ]


def range_reason(raw: pl.Expr, parsed: pl.Expr, label: str, now: datetime) -> list[Check]:
    """Why a parsed timestamp is implausible: before 2000 or more than a day ahead of now."""
    latest = now.astimezone(UTC).replace(tzinfo=None) + FUTURE_TOLERANCE
    return [
        Check(parsed < MIN_TS, pl.format("{} {} is before 2000-01-01", pl.lit(label), quoted(raw))),
        Check(
            parsed > latest,
            pl.format("{} {} is more than 1 day in the future", pl.lit(label), quoted(raw)),
        ),
    ]


def utc_now(now: datetime | None) -> datetime:
    """The reference time for the future check (injectable for tests)."""
    return now if now is not None else datetime.now(UTC)


# --------------------------------------------------------------------------- assembling results


@dataclass
class Deduper:
    """Keeps the first row of each key within one file, across batches."""

    keys: tuple[str, ...]
    seen: pl.DataFrame | None = field(default=None)

    def __call__(self, rows: pl.DataFrame) -> tuple[pl.DataFrame, int]:
        """Drop rows whose key was seen earlier in the file; return them counted."""
        first = rows.select(pl.struct(list(self.keys)).is_first_distinct()).to_series()
        unique = rows.filter(first)
        if self.seen is not None and self.seen.height:
            unique = unique.join(self.seen, on=list(self.keys), how="anti", nulls_equal=True)
        new_keys = unique.select(self.keys)
        self.seen = new_keys if self.seen is None else pl.concat([self.seen, new_keys])
        return unique, rows.height - unique.height


def split_result(
    frame: pl.DataFrame,
    *,
    table: str,
    source: str,
    source_file: str,
    dedupe: Deduper,
    error: LandingFileError | None = None,
    raw_text: str = "text",
) -> ReadResult:
    """Split a validated frame (with ``reason``) into rows, rejects and duplicates.

    Every row of ``frame`` is one line (or record) read, so ``rows_read`` is its height.
    """
    text = pl.col(raw_text)
    if isinstance(frame.schema[raw_text], pl.Struct):
        text = text.struct.json_encode()
    if "bad_text" in frame.columns:
        text = pl.coalesce(text, pl.col("bad_text"))
    rejects = frame.filter(pl.col("reason").is_not_null()).select(
        pl.lit(source, pl.String).alias("source"),
        pl.lit(source_file, pl.String).alias("source_file"),
        pl.col("source_line").cast(pl.Int64),
        pl.col("reason").cast(pl.String),
        text.cast(pl.String).alias("raw_text"),
    )
    good = frame.filter(pl.col("reason").is_null()).with_columns(
        pl.lit(source_file, pl.String).alias("source_file")
    )
    good = good.select([pl.col(c).cast(t) for c, t in RAW_COLUMNS[table].items()])
    rows, duplicates = dedupe(good)
    return ReadResult(
        table=table,
        source=source,
        source_file=source_file,
        rows=rows,
        rejects=rejects,
        rows_read=frame.height,
        duplicates=duplicates,
        error=error,
    )


BatchReader = Callable[..., Iterator[ReadResult]]


Transform = Callable[[pl.DataFrame, datetime], pl.DataFrame]


def read_json_shape(
    path: Path,
    *,
    source_file: str | None,
    table: str,
    source: str,
    fields: Sequence[JsonField],
    transform: Transform,
    batch_bytes: int,
    max_line_bytes: int,
    now: datetime | None,
) -> Iterator[ReadResult]:
    """Drive a JSON-lines shape: lines -> fields -> ``transform`` -> rows and rejects."""
    name = source_file if source_file is not None else str(path)
    dedupe = Deduper(KEY_COLUMNS[table])
    reference = utc_now(now)
    for batch in iter_line_batches(path, name, batch_bytes):
        parsed = parse_json_lines(batch.lines, fields, max_line_bytes)
        frame = transform(parsed, reference).with_columns(pl.lit(source, pl.String).alias("source"))
        yield split_result(
            frame, table=table, source=source, source_file=name, dedupe=dedupe, error=batch.error
        )


def with_reasons(frame: pl.DataFrame, *checks: Check | Sequence[Check]) -> pl.DataFrame:
    """Keep the first failing check (earlier reasons win) in ``reason``.

    Conditions are evaluated on every row, messages only on the rows that fail, so a clean
    batch never builds a string.
    """
    flat = [c for item in checks for c in ([item] if isinstance(item, Check) else item)]
    if not flat:
        return frame
    failing = pl.col("reason").is_not_null() | pl.any_horizontal(
        c.fails.fill_null(value=False) for c in flat
    )
    frame = frame.with_columns(_failing=failing)
    bad = frame.filter(pl.col("_failing"))
    if bad.height == 0:
        return frame.drop("_failing")
    bad = bad.with_columns(
        reason=pl.coalesce(
            pl.col("reason"),
            *(pl.when(c.fails.fill_null(value=False)).then(c.reason) for c in flat),
        )
    )
    good = frame.filter(~pl.col("_failing"))
    return pl.concat([good, bad]).sort("source_line").drop("_failing")


def json_string(value: pl.Expr) -> pl.Expr:
    """Encode a string column as a JSON string literal (vectorised)."""
    return pl.struct(value.alias("v")).struct.json_encode().str.slice(5).str.head(-1)


def add_json_key(obj: pl.Expr, key: str, value: pl.Expr) -> pl.Expr:
    """Add ``key: value`` to a JSON object text unless the object already has that key.

    The key test is a text search for ``"key":`` at any depth, which errs towards keeping
    the original object untouched.
    """
    pair = pl.lit(f'"{key}":') + json_string(value)
    body = obj.str.strip_chars()
    has_key = body.str.contains(f'"{key}"\\s*:')
    return (
        pl.when(value.is_null() | has_key)
        .then(obj)
        .when(obj.is_null() | (body.str.replace_all(r"\s", "") == "{}"))
        .then(pl.lit("{") + pair + pl.lit("}"))
        .otherwise(pl.lit("{") + pair + pl.lit(",") + body.str.slice(1))
    )


# --------------------------------------------------------------------------- CSV


@dataclass(frozen=True)
class CsvColumn:
    """A canonical CSV column, the header names vendors use for it, and whether it is needed."""

    name: str
    aliases: tuple[str, ...]
    required: bool = True


def _normal_header(name: str) -> str:
    return " ".join(name.replace("_", " ").replace("\ufeff", "").strip().lower().split())


def resolve_header(
    header: Sequence[str], columns: Sequence[CsvColumn], source_file: str
) -> dict[str, str]:
    """Map canonical names to the file's header names; raise naming every missing column."""
    present = {_normal_header(h): h for h in header}
    resolved: dict[str, str] = {}
    missing_columns: list[str] = []
    for column in columns:
        found = next(
            (present[a] for a in map(_normal_header, column.aliases) if a in present), None
        )
        if found is not None:
            resolved[column.name] = found
        elif column.required:
            missing_columns.append(f"{column.name} ({' / '.join(column.aliases)})")
    if missing_columns:
        msg = "header lacks required columns: " + "; ".join(missing_columns)
        raise LandingFileError(source_file, msg, 1)
    return resolved


_QUOTED = r'"(?:[^"]|"")*"'


def _records(lines: pl.DataFrame) -> pl.DataFrame:
    """Group physical lines into CSV records (a quoted field may span lines)."""
    quotes = pl.col("text").str.count_matches('"').fill_null(0)
    if lines.select((quotes % 2 == 1).any()).item():
        return _multiline_records(lines, quotes)
    # no line opens a quoted field it does not close (the usual case): each line is a record,
    # and grouping a million lines into records of one would cost most of the batch's parse
    return lines.select(
        "source_line",
        "text",
        pl.when(pl.col("text").is_null()).then(pl.col("bad_text")).alias("bad_text"),
        "nbytes",
        open=pl.lit(value=False),
    )


def _multiline_records(lines: pl.DataFrame, quotes: pl.Expr) -> pl.DataFrame:
    """:func:`_records` where quoted fields span lines: lines grouped by quote parity."""
    odd = (quotes.cum_sum() % 2).cast(pl.Int8)
    starts = odd.shift(1, fill_value=0) == 0
    grouped = (
        lines.with_columns(record=starts.cum_sum(), odd_after=odd)
        .group_by("record", maintain_order=True)
        .agg(
            pl.col("source_line").first(),
            pl.col("text").str.join("\n").alias("text"),
            pl.col("text").is_null().any().alias("has_bad"),
            pl.col("bad_text").fill_null(pl.col("text")).str.join("\n").alias("bad_text"),
            (pl.col("nbytes").sum() + pl.len() - 1).alias("nbytes"),
            pl.col("odd_after").last().alias("open"),
        )
    )
    return grouped.with_columns(
        text=pl.when(pl.col("has_bad")).then(None).otherwise(pl.col("text")),
        bad_text=pl.when(pl.col("has_bad")).then(pl.col("bad_text")),
        open=pl.col("open") == 1,
    ).drop("record", "has_bad")


def _parse_header(text: str) -> list[str]:
    import csv  # noqa: PLC0415 - one line, once per file

    return next(csv.reader([text]))


def iter_csv_batches(
    path: Path,
    source_file: str,
    columns: Sequence[CsvColumn],
    batch_bytes: int,
    max_line_bytes: int,
) -> Iterator[tuple[pl.DataFrame, LandingFileError | None]]:
    """Yield frames of CSV records: ``source_line`` (first physical line), ``text``,
    ``bad_text``, ``reason`` and one String column per canonical column found.

    Raises
    ------
    LandingFileError
        When the header lacks a required column (naming each), before any batch.
    """
    carry: pl.DataFrame | None = None
    header: list[str] | None = None
    resolved: dict[str, str] = {}
    batches = iter_line_batches(path, source_file, batch_bytes)
    batch: LineBatch | None = next(batches)
    while batch is not None:
        upcoming = next(batches, None)
        lines = batch.lines if carry is None else pl.concat([carry, batch.lines])
        carry = None
        records = _records(lines)
        if records.height and records["open"][-1] and upcoming is not None:
            start = records["source_line"][-1]
            carry = lines.filter(pl.col("source_line") >= start)
            records = records.head(-1)
        if header is None:
            records = records.filter(
                pl.col("text").is_null() | (pl.col("text").str.strip_chars() != "")
            )
            if records.height == 0:
                batch = upcoming
                continue
            first = records.row(0, named=True)
            if first["text"] is None:
                msg = "header is not valid UTF-8"
                raise LandingFileError(source_file, msg, first["source_line"])
            header = _parse_header(first["text"])
            resolved = resolve_header(header, columns, source_file)
            records = records.slice(1)
        yield _parse_records(records, header, resolved, max_line_bytes, source_file), batch.error
        batch = upcoming


def _parse_records(
    records: pl.DataFrame,
    header: list[str],
    resolved: dict[str, str],
    max_line_bytes: int,
    source_file: str,
) -> pl.DataFrame:
    import io  # noqa: PLC0415

    records = records.filter(pl.col("text").is_null() | (pl.col("text").str.strip_chars() != ""))
    n_fields = pl.col("text").str.replace_all(_QUOTED, "").str.count_matches(",") + 1
    records = records.with_columns(
        reason=pl.coalesce(
            pl.when(pl.col("text").is_null()).then(pl.lit("line is not valid UTF-8")),
            pl.when(pl.col("nbytes") > max_line_bytes).then(
                pl.format(
                    "record is {} bytes, above the limit of {} bytes",
                    pl.col("nbytes"),
                    pl.lit(max_line_bytes),
                )
            ),
            pl.when(pl.col("open")).then(pl.lit("unterminated quoted field")),
            pl.when(n_fields != len(header)).then(
                pl.format("expected {} fields, found {}", pl.lit(len(header)), n_fields)
            ),
        )
    ).drop("open")
    good = records.filter(pl.col("reason").is_null())
    names = [f"_c{i}" for i in range(len(header))]
    if good.height:
        body = good.select(pl.col("text").str.join("\n")).item() + "\n"
        parsed = pl.read_csv(
            io.BytesIO(body.encode()),
            has_header=False,
            new_columns=names,
            schema=dict.fromkeys(names, pl.String),
            quote_char='"',
        )
        if parsed.height != good.height:
            msg = f"CSV parser read {parsed.height} records where {good.height} were expected"
            raise LandingFileError(source_file, msg)
    else:
        parsed = pl.DataFrame(schema=dict.fromkeys(names, pl.String))
    position = {h: i for i, h in enumerate(header)}
    values = parsed.select(
        pl.col(names[position[h]]).str.strip_chars().replace("", None).alias(name)
        for name, h in resolved.items()
    )
    good = pl.concat([good, values], how="horizontal")
    bad = records.filter(pl.col("reason").is_not_null())
    return pl.concat([good, bad], how="diagonal").sort("source_line")
