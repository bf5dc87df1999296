"""Amplitude export rows (JSON lines, usually gzip).

``event_time`` is UTC without an offset by contract (``2026-07-03 10:00:00.123000``); a value
that does carry an offset is converted to UTC. ``insert_id`` (else ``uuid``) is the event id;
a row needs ``event_type`` and ``user_id`` or ``device_id`` (the anonymous id). ``$identify``
rows become identify events whose traits are the user properties. Channel is ``app``.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import polars as pl

from journey_mining.sources._common import (
    DEFAULT_BATCH_BYTES,
    DEFAULT_MAX_LINE_BYTES,
    Check,
    JsonField,
    ReadResult,
    missing,
    parse_iso_with_offset,
    quoted,
    range_reason,
    read_json_shape,
    with_reasons,
)

TABLE = "product_events"
SOURCE = "amplitude"

FIELDS = (
    JsonField("insert_id", "id"),
    JsonField("uuid", "id"),
    JsonField("event_type"),
    JsonField("user_id", "id"),
    JsonField("device_id", "id"),
    JsonField("event_time"),
    JsonField("event_properties", "object"),
    JsonField("user_properties", "object"),
)


def parse_utc_naive(raw: pl.Expr) -> pl.Expr:
    """``YYYY-MM-DD HH:MM:SS[.f]`` read as UTC; values with an offset are converted."""
    text = raw.str.strip_chars().str.replace(r"^(\d{4}-\d{2}-\d{2})T", "${1} ")
    naive = text.str.to_datetime("%Y-%m-%d %H:%M:%S%.f", strict=False, time_unit="us")
    return pl.coalesce(naive, parse_iso_with_offset(raw))


def _transform(frame: pl.DataFrame, now: datetime) -> pl.DataFrame:
    is_identify = pl.col("event_type") == "$identify"
    frame = frame.with_columns(
        ts=parse_utc_naive(pl.col("event_time")),
        event_id=pl.coalesce(pl.col("insert_id"), pl.col("uuid")),
    )
    frame = with_reasons(
        frame,
        missing("event_id", "insert_id"),
        missing("event_type"),
        missing("event_time"),
        Check(
            pl.col("ts").is_null(),
            pl.format(
                "event_time {} is not 'YYYY-MM-DD HH:MM:SS[.ffffff]' (UTC)",
                quoted(pl.col("event_time")),
            ),
        ),
        range_reason(pl.col("event_time"), pl.col("ts"), "event_time", now),
        Check(
            pl.col("user_id").is_null() & pl.col("device_id").is_null(),
            pl.lit("missing field 'user_id' or 'device_id'"),
        ),
    )
    return frame.with_columns(
        event_type=pl.when(is_identify).then(pl.lit("identify")).otherwise(pl.lit("track")),
        event=pl.when(is_identify).then(pl.lit("identify")).otherwise(pl.col("event_type")),
        anonymous_id=pl.col("device_id"),
        previous_id=pl.lit(None, pl.String),
        channel=pl.lit("app"),
        properties=pl.when(is_identify).then(None).otherwise(pl.col("event_properties")),
        traits=pl.when(is_identify).then(pl.col("user_properties")),
        event_date=pl.col("ts").dt.date(),
    )


def read(
    path: Path,
    *,
    source_file: str | None = None,
    batch_bytes: int = DEFAULT_BATCH_BYTES,
    max_line_bytes: int = DEFAULT_MAX_LINE_BYTES,
    now: datetime | None = None,
) -> Iterator[ReadResult]:
    """Read an Amplitude export file in batches of ``product_events``.

    Parameters are those of :func:`journey_mining.sources.segment.read`.
    """
    return read_json_shape(
        path,
        source_file=source_file,
        table=TABLE,
        source=SOURCE,
        fields=FIELDS,
        transform=_transform,
        batch_bytes=batch_bytes,
        max_line_bytes=max_line_bytes,
        now=now,
    )
