"""Mixpanel export rows: ``{"event": ..., "properties": {"time", "distinct_id", ...}}``.

``properties.time`` is epoch seconds, or milliseconds when above 10^11 (a seconds value that
large would be after the year 5000). ``$insert_id`` is the event id. A ``distinct_id`` of the
form ``$device:<id>`` is an anonymous id; otherwise it is the user id unless ``$user_id`` is
given. ``$identify`` rows become identify events whose traits are the properties. Channel is
``web``.
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
    quoted,
    range_reason,
    read_json_shape,
    with_reasons,
)

TABLE = "product_events"
SOURCE = "mixpanel"
MS_THRESHOLD = 10**11

FIELDS = (
    JsonField("event"),
    JsonField("properties", "object"),
    JsonField("properties.time", "time"),
    JsonField("properties.distinct_id", "id"),
    JsonField("properties.$insert_id", "id"),
    JsonField("properties.$user_id", "id"),
    JsonField("properties.$device_id", "id"),
)


def parse_epoch(raw: pl.Expr) -> pl.Expr:
    """Epoch seconds or milliseconds (number or numeric text) -> naive UTC datetime."""
    number = raw.str.strip_chars().cast(pl.Float64, strict=False)
    seconds = pl.when(number.abs() > MS_THRESHOLD).then(number / 1000).otherwise(number)
    return (seconds * 1_000_000).round().cast(pl.Int64, strict=False).cast(pl.Datetime("us"))


def _transform(frame: pl.DataFrame, now: datetime) -> pl.DataFrame:
    distinct = pl.col("properties.distinct_id")
    is_device = distinct.str.starts_with("$device:").fill_null(value=False)
    is_identify = pl.col("event") == "$identify"
    frame = frame.with_columns(
        ts=parse_epoch(pl.col("properties.time")),
        event_id=pl.col("properties.$insert_id"),
        user_id=pl.when(is_device)
        .then(pl.col("properties.$user_id"))
        .otherwise(pl.coalesce(pl.col("properties.$user_id"), distinct)),
        anonymous_id=pl.when(is_device)
        .then(distinct.str.strip_prefix("$device:"))
        .otherwise(pl.col("properties.$device_id")),
    )
    frame = with_reasons(
        frame,
        missing("event"),
        missing("properties.$insert_id"),
        missing("properties.time"),
        Check(
            pl.col("ts").is_null(),
            pl.format(
                "time {} is not epoch seconds or milliseconds", quoted(pl.col("properties.time"))
            ),
        ),
        range_reason(pl.col("properties.time"), pl.col("ts"), "time", now),
        Check(
            pl.col("user_id").is_null() & pl.col("anonymous_id").is_null(),
            pl.lit("missing field 'properties.distinct_id'"),
        ),
    )
    return frame.with_columns(
        event_type=pl.when(is_identify).then(pl.lit("identify")).otherwise(pl.lit("track")),
        event=pl.when(is_identify).then(pl.lit("identify")).otherwise(pl.col("event")),
        previous_id=pl.lit(None, pl.String),
        channel=pl.lit("web"),
        traits=pl.when(is_identify).then(pl.col("properties")),
        properties=pl.when(is_identify).then(None).otherwise(pl.col("properties")),
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
    """Read a Mixpanel export file in batches of ``product_events``.

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
