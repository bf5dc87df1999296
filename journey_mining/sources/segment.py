"""Segment exports: one track/page/screen/identify/alias call per JSON line.

Timestamps must carry ``Z`` or an offset (``2026-07-03T12:00:00+02:00``); a timestamp without
one is rejected as ambiguous rather than guessed to be UTC. Every call needs ``messageId``
(the event id) and ``timestamp``; track needs ``event``; alias needs ``userId`` and
``previousId``; the others need ``userId`` or ``anonymousId``. Page and screen calls become
``Page Viewed`` / ``Screen Viewed`` with their ``name`` added to the properties.
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
    add_json_key,
    iso_offset_reason,
    missing,
    parse_iso_with_offset,
    quoted,
    range_reason,
    read_json_shape,
    with_reasons,
)

TABLE = "product_events"
SOURCE = "segment"
EVENT_TYPES = ("track", "page", "screen", "identify", "alias")
_APP_LIBRARIES = r"(?i)ios|android|react-native|flutter|swift|kotlin|xamarin|unity"

FIELDS = (
    JsonField("type"),
    JsonField("messageId", "id"),
    JsonField("userId", "id"),
    JsonField("anonymousId", "id"),
    JsonField("previousId", "id"),
    JsonField("event"),
    JsonField("name"),
    JsonField("timestamp"),
    JsonField("properties", "object"),
    JsonField("traits", "object"),
    JsonField("context.library.name"),
    JsonField("context.device.type"),
)


def _transform(frame: pl.DataFrame, now: datetime) -> pl.DataFrame:
    kind = pl.col("type").str.strip_chars().str.to_lowercase()
    has_person = pl.col("userId").is_not_null() | pl.col("anonymousId").is_not_null()
    frame = frame.with_columns(ts=parse_iso_with_offset(pl.col("timestamp")), event_type=kind)
    frame = with_reasons(
        frame,
        missing("messageId"),
        missing("type"),
        Check(
            ~kind.is_in(EVENT_TYPES),
            pl.format("type {} is not one of " + ", ".join(EVENT_TYPES), quoted(pl.col("type"))),
        ),
        missing("timestamp"),
        iso_offset_reason(pl.col("timestamp"), pl.col("ts"), "timestamp"),
        range_reason(pl.col("timestamp"), pl.col("ts"), "timestamp", now),
        Check((kind == "track") & pl.col("event").is_null(), pl.lit("missing field 'event'")),
        Check((kind == "alias") & pl.col("userId").is_null(), pl.lit("missing field 'userId'")),
        Check(
            (kind == "alias") & pl.col("previousId").is_null(), pl.lit("missing field 'previousId'")
        ),
        Check((kind != "alias") & ~has_person, pl.lit("missing field 'userId' or 'anonymousId'")),
    )
    is_app = pl.col("context.library.name").str.contains(_APP_LIBRARIES).fill_null(
        value=False
    ) | pl.col("context.device.type").str.to_lowercase().is_in(["ios", "android"]).fill_null(
        value=False
    )
    viewed = kind.is_in(["page", "screen"])
    return frame.with_columns(
        event_id=pl.col("messageId"),
        event=pl.when(kind == "track")
        .then(pl.col("event"))
        .when(kind == "page")
        .then(pl.lit("Page Viewed"))
        .when(kind == "screen")
        .then(pl.lit("Screen Viewed"))
        .otherwise(kind),
        user_id=pl.col("userId"),
        anonymous_id=pl.col("anonymousId"),
        previous_id=pl.col("previousId"),
        channel=pl.when(is_app).then(pl.lit("app")).otherwise(pl.lit("web")),
        properties=pl.when(viewed)
        .then(add_json_key(pl.col("properties"), "name", pl.col("name")))
        .when(kind.is_in(["identify", "alias"]))
        .then(pl.lit(None, pl.String))
        .otherwise(pl.col("properties")),
        traits=pl.when(kind == "identify").then(pl.col("traits")),
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
    """Read a Segment JSON-lines file (plain, .gz or .zst) in batches of ``product_events``.

    Parameters
    ----------
    path
        The landing file.
    source_file
        The name recorded in ``source_file`` (default: ``str(path)``), usually the path
        relative to the landing folder so that it is stable across machines.
    batch_bytes
        Decompressed bytes per yielded batch; bounds memory.
    max_line_bytes
        Longer lines are rejected with their size in the reason.
    now
        Reference time for the "more than 1 day in the future" check.
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
