"""A generic event table (CSV, JSON lines or Parquet) described by a column mapping (YAML).

The mapping sits beside the data files, in ``landing/events/generic/<feed>/mapping.yml``::

    source: generic          # recorded in raw.product_events.source and raw.rejects.source
    channel: web             # web or app, for every row of the feed
    timestamp: iso8601       # iso8601 (Z or offset required) | utc (no offset, UTC) |
                             # epoch_s | epoch_ms
    columns:                 # canonical column: the feed's column (JSON: a dotted path)
      event_id: id
      event: name
      ts: occurred_at
      user_id: user          # user_id or anonymous_id (at least one mapped)
      anonymous_id: device
      properties: props      # optional: a column holding a JSON object (Parquet: a struct)

For Parquet files ``source_line`` is the 1-based row number and a reject's ``raw_text`` is the
row as JSON. Every row becomes a ``track`` event.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import polars as pl
import pyarrow.parquet as pq
import yaml

from journey_mining.sources._common import (
    DEFAULT_BATCH_BYTES,
    DEFAULT_MAX_LINE_BYTES,
    KEY_COLUMNS,
    MIN_TS,
    Check,
    CsvColumn,
    Deduper,
    JsonField,
    LandingFileError,
    ReadResult,
    Transform,
    empty_rejects,
    empty_rows,
    iso_offset_reason,
    iter_csv_batches,
    missing,
    parse_iso_with_offset,
    quoted,
    range_reason,
    read_json_shape,
    split_result,
    utc_now,
    with_reasons,
)
from journey_mining.sources.amplitude import parse_utc_naive

TABLE = "product_events"
MAPPING_FILE = "mapping.yml"
MAPPABLE = ("event_id", "event", "ts", "user_id", "anonymous_id", "properties")
TIMESTAMP_KINDS = ("iso8601", "utc", "epoch_s", "epoch_ms")
CHANNELS = ("web", "app")
PARQUET_BATCH_ROWS = 1_000_000


@dataclass(frozen=True)
class GenericMapping:
    """A validated column mapping for one generic feed."""

    columns: dict[str, str]
    timestamp: str = "iso8601"
    channel: str = "web"
    source: str = "generic"


def load_mapping(path: Path) -> GenericMapping:
    """Read and validate a ``mapping.yml``; errors name the file and the problem."""
    try:
        data: Any = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        msg = f"cannot read the mapping: {exc}"
        raise LandingFileError(str(path), msg) from exc
    if not isinstance(data, dict) or not isinstance(data.get("columns"), dict):
        msg = "columns: a mapping of canonical column to feed column is required"
        raise LandingFileError(str(path), msg)
    columns = {str(k): str(v) for k, v in data["columns"].items()}
    problems = [
        f"columns.{k}: not one of {', '.join(MAPPABLE)}" for k in columns if k not in MAPPABLE
    ]
    problems += [f"columns.{k}: required" for k in ("event_id", "event", "ts") if k not in columns]
    if "user_id" not in columns and "anonymous_id" not in columns:
        problems.append("columns: user_id or anonymous_id is required")
    timestamp = str(data.get("timestamp", "iso8601"))
    if timestamp not in TIMESTAMP_KINDS:
        problems.append(f"timestamp: {timestamp!r} is not one of {', '.join(TIMESTAMP_KINDS)}")
    channel = str(data.get("channel", "web"))
    if channel not in CHANNELS:
        problems.append(f"channel: {channel!r} is not one of {', '.join(CHANNELS)}")
    if problems:
        msg = "; ".join(problems)
        raise LandingFileError(str(path), msg)
    return GenericMapping(columns, timestamp, channel, str(data.get("source", "generic")))


def find_mapping(path: Path) -> Path:
    """The ``mapping.yml`` in the data file's folder or the nearest parent folder."""
    for folder in path.parents:
        candidate = folder / MAPPING_FILE
        if candidate.is_file():
            return candidate
    msg = f"no {MAPPING_FILE} found beside the file or in a parent folder"
    raise LandingFileError(str(path), msg)


def _parse_ts(mapping: GenericMapping, frame: pl.DataFrame) -> tuple[pl.Expr, list[Check]]:
    """The parsed ``ts`` and the checks on it, reading the text in ``_ts_text``."""
    raw = pl.col("_ts_text")
    dtype = frame.schema["ts"]
    if isinstance(dtype, pl.Datetime):
        zone = dtype.time_zone
        utc = pl.col("ts").dt.convert_time_zone("UTC") if zone else pl.col("ts")
        return utc.dt.replace_time_zone(None).dt.cast_time_unit("us"), []
    if mapping.timestamp == "iso8601":
        return parse_iso_with_offset(raw), iso_offset_reason(raw, pl.col("ts"), "ts")
    if mapping.timestamp == "utc":
        expected = "'YYYY-MM-DD HH:MM:SS' (UTC)"
        parsed = parse_utc_naive(raw)
    else:
        expected = mapping.timestamp
        scale = 1_000_000 if mapping.timestamp == "epoch_s" else 1000
        number = raw.cast(pl.Float64, strict=False)
        parsed = (number * scale).round().cast(pl.Int64, strict=False).cast(pl.Datetime("us"))
    message = pl.format(f"ts {{}} is not {expected}", quoted(raw))
    return parsed, [Check(pl.col("ts").is_null(), message)]


def _transform(mapping: GenericMapping, now: datetime) -> Transform:
    def transform(frame: pl.DataFrame, _now: datetime) -> pl.DataFrame:
        for name in MAPPABLE:
            if name not in frame.columns:
                frame = frame.with_columns(pl.lit(None, pl.String).alias(name))
        native = isinstance(frame.schema["ts"], pl.Datetime)
        frame = frame.with_columns(
            _ts_text=pl.lit(None, pl.String) if native else pl.col("ts").cast(pl.String)
        )
        parsed, ts_checks = _parse_ts(mapping, frame)
        ts_missing = (
            Check(pl.col("ts").is_null(), pl.lit("missing field 'ts'"))
            if native
            else missing("_ts_text", "ts")
        )
        frame = with_reasons(frame, missing("event_id"), missing("event"), ts_missing)
        frame = frame.with_columns(ts=parsed)
        text = pl.coalesce(pl.col("_ts_text"), pl.col("ts").cast(pl.String))
        frame = with_reasons(
            frame,
            ts_checks,
            range_reason(text, pl.col("ts"), "ts", now),
            Check(
                pl.col("user_id").is_null() & pl.col("anonymous_id").is_null(),
                pl.lit("missing field 'user_id' or 'anonymous_id'"),
            ),
            Check(
                pl.col("properties").is_not_null()
                & ~pl.col("properties").str.strip_chars().str.starts_with("{"),
                pl.lit("properties is not a JSON object"),
            ),
        )
        return frame.with_columns(
            event_type=pl.lit("track"),
            previous_id=pl.lit(None, pl.String),
            traits=pl.lit(None, pl.String),
            channel=pl.lit(mapping.channel),
            source=pl.lit(mapping.source),
            event_date=pl.col("ts").dt.date(),
        ).drop("_ts_text")

    return transform


def read(
    path: Path,
    *,
    mapping: GenericMapping | None = None,
    source_file: str | None = None,
    batch_bytes: int = DEFAULT_BATCH_BYTES,
    max_line_bytes: int = DEFAULT_MAX_LINE_BYTES,
    now: datetime | None = None,
) -> Iterator[ReadResult]:
    """Read a generic feed file with its mapping (default: the nearest ``mapping.yml``).

    The format follows the file name: ``.csv``, ``.jsonl``/``.json``/``.ndjson`` or
    ``.parquet`` (each optionally ``.gz``/``.zst`` except Parquet).
    """
    mapping = mapping if mapping is not None else load_mapping(find_mapping(path))
    name = source_file if source_file is not None else str(path)
    transform = _transform(mapping, utc_now(now))
    suffixes = [s.lower() for s in path.suffixes if s.lower() not in {".gz", ".zst", ".zstd"}]
    kind = suffixes[-1] if suffixes else ""
    if kind == ".parquet":
        return _read_parquet(path, name, mapping, transform)
    if kind == ".csv":
        return _read_csv(
            path,
            name,
            mapping,
            transform,
            batch_bytes=batch_bytes,
            max_line_bytes=max_line_bytes,
        )
    if kind in {".jsonl", ".json", ".ndjson"}:
        fields = [
            JsonField(column, "object" if canonical == "properties" else "id")
            for canonical, column in mapping.columns.items()
        ]
        renames = {column: canonical for canonical, column in mapping.columns.items()}

        def renamed(frame: pl.DataFrame, ref: datetime) -> pl.DataFrame:
            return transform(frame.rename(renames), ref)

        return read_json_shape(
            path,
            source_file=name,
            table=TABLE,
            source=mapping.source,
            fields=fields,
            transform=renamed,
            batch_bytes=batch_bytes,
            max_line_bytes=max_line_bytes,
            now=now,
        )
    msg = f"unknown generic format {kind or '(no suffix)'}; use .csv, .jsonl or .parquet"
    raise LandingFileError(name, msg)


def _read_csv(
    path: Path,
    name: str,
    mapping: GenericMapping,
    transform: Transform,
    *,
    batch_bytes: int,
    max_line_bytes: int,
) -> Iterator[ReadResult]:
    columns = [CsvColumn(canonical, (col,)) for canonical, col in mapping.columns.items()]
    dedupe = Deduper(KEY_COLUMNS[TABLE])
    empty = True
    for records, error in iter_csv_batches(path, name, columns, batch_bytes, max_line_bytes):
        empty = False
        yield split_result(
            transform(records, MIN_TS),
            table=TABLE,
            source=mapping.source,
            source_file=name,
            dedupe=dedupe,
            error=error,
        )
    if empty:
        yield ReadResult(TABLE, mapping.source, name, empty_rows(TABLE), empty_rejects(), 0)


def _read_parquet(
    path: Path, name: str, mapping: GenericMapping, transform: Transform
) -> Iterator[ReadResult]:
    try:
        parquet = pq.ParquetFile(path)
    except (OSError, ValueError) as exc:
        msg = f"not a readable Parquet file: {exc}"
        raise LandingFileError(name, msg) from exc
    absent = [c for c in mapping.columns.values() if c not in parquet.schema_arrow.names]
    if absent:
        msg = "Parquet file lacks mapped columns: " + ", ".join(absent)
        raise LandingFileError(name, msg)
    dedupe = Deduper(KEY_COLUMNS[TABLE])
    offset = 1
    empty = True
    for batch in parquet.iter_batches(batch_size=PARQUET_BATCH_ROWS):
        frame = pl.from_arrow(batch)
        assert isinstance(frame, pl.DataFrame)
        selected = frame.select(
            pl.int_range(offset, offset + frame.height, dtype=pl.Int64).alias("source_line"),
            pl.struct(pl.all()).alias("text"),
            *(_as_text(frame, col).alias(canonical) for canonical, col in mapping.columns.items()),
        ).with_columns(reason=pl.lit(None, pl.String))
        offset += frame.height
        empty = False
        yield split_result(
            transform(selected, MIN_TS),
            table=TABLE,
            source=mapping.source,
            source_file=name,
            dedupe=dedupe,
        )
    if empty:
        yield ReadResult(TABLE, mapping.source, name, empty_rows(TABLE), empty_rejects(), 0)


def _as_text(frame: pl.DataFrame, column: str) -> pl.Expr:
    dtype = frame.schema[column]
    if isinstance(dtype, pl.Struct):
        return pl.col(column).struct.json_encode()
    if isinstance(dtype, pl.Datetime):
        return pl.col(column)
    return pl.col(column).cast(pl.String)
