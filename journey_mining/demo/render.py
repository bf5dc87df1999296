"""Turn simulated activities into the landing shapes of data contract §1, planting the dirt.

Every function here is vectorised over a chunk: JSON lines are assembled with Polars string
expressions (the values are ids, names and numbers chosen by the generator, none needing JSON
escapes), CSV rows are Polars frames written by the caller. Each planted problem is counted
on the rows actually written, so the ground truth matches the files exactly.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import numpy as np
import numpy.typing as npt
import polars as pl
import pyarrow as pa

from journey_mining.demo.scenario import Dirt
from journey_mining.demo.simulate import (
    ALIAS,
    CRM_ACTIVITIES,
    DAY,
    DEAL_STAGES,
    IDENTIFY,
    PRODUCT_EVENTS,
    SIGNED_UP,
    SURVEYS,
    TEST_EVENT,
    UNKNOWN_EVENTS,
)

U64 = npt.NDArray[np.uint64]
I64 = npt.NDArray[np.int64]

SOURCES: Final = ("mixpanel", "amplitude", "segment")
MIXPANEL, AMPLITUDE, SEGMENT = range(3)
_OFFSETS: Final = ((120, "+02:00"), (-300, "-05:00"), (330, "+05:30"), (-420, "-07:00"))
_HEX: Final = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)
_MASK64: Final = (1 << 64) - 1


def mix64(keys: U64, salt: int) -> U64:
    """SplitMix64's finaliser on ``keys + salt``: a bijection, so distinct keys stay distinct."""
    with np.errstate(over="ignore"):
        z = keys + np.uint64((salt * 0x9E3779B97F4A7C15) & _MASK64)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return z ^ (z >> np.uint64(31))


def hex16(values: U64) -> pl.Series:
    """Each value as 16 lower-case hex digits."""
    n = len(values)
    octets = values.astype(">u8").view(np.uint8).reshape(n, 8)
    nibbles = np.empty((n, 16), dtype=np.uint8)
    nibbles[:, 0::2] = octets >> 4
    nibbles[:, 1::2] = octets & 15
    data = _HEX[nibbles].tobytes()
    offsets = np.arange(0, 16 * n + 1, 16, dtype=np.int64)
    array = pa.LargeStringArray.from_buffers(n, pa.py_buffer(offsets.tobytes()), pa.py_buffer(data))
    series = pl.from_arrow(array)
    assert isinstance(series, pl.Series)
    return series


def people_strings(persons: pl.DataFrame, salt: int) -> pl.DataFrame:
    """Ids, emails and identify traits of a chunk's persons (one row per person, same order).

    Columns: ``contact_id``, ``user_id`` (null before sign-up), ``anon1``, ``anon2`` (the
    second device, or null), ``email`` (as the product knows it), ``crm_email`` (as the CRM
    has it: identical when the contact carries the product user id, otherwise different in
    case and padded with spaces), ``traits`` (identify traits, JSON members without braces).
    """
    person = persons["person"].to_numpy().astype(np.uint64)
    anon1 = pl.lit("anon-") + pl.Series(hex16(mix64(person * np.uint64(2), salt)))
    anon2 = pl.lit("anon-") + pl.Series(hex16(mix64(person * np.uint64(2) + np.uint64(1), salt)))
    signed = pl.col("signed_up")
    company = pl.col("company_base").str.replace_all(" ", "") + pl.col("company_suffix")
    email = pl.format(
        "{}.{}.{}@{}.example",
        pl.col("first_name"),
        pl.col("last_name"),
        pl.col("person"),
        company,
    )
    return persons.select(
        contact_id=(pl.col("person") + 100_000_000).cast(pl.String),
        user_id=pl.when(signed).then(pl.lit("u_") + pl.col("person").cast(pl.String).str.zfill(7)),
        anon1=pl.when(signed).then(anon1),
        anon2=pl.when(pl.col("second_device")).then(anon2),
        email=email,
        crm_email=pl.when(pl.col("has_product_user_id"))
        .then(email)
        .when(signed)
        .then(pl.lit("  ") + email.str.to_lowercase() + pl.lit(" "))
        .otherwise(email.str.to_lowercase()),
        traits=pl.format('"email":"{}","plan":"trial","platform":"{}"', email, pl.col("platform")),
    )


@dataclass(frozen=True)
class ProductLines:
    """One chunk's product events as landing lines, with what was planted in them.

    ``lines`` has ``source`` (index into :data:`SOURCES`), ``export_day`` (days after the
    first day), ``ts``, ``row``, ``copy`` (0 original, 1 in-file duplicate, 2 re-sent in a
    later file, 3 malformed) and ``line``, sorted for writing.
    """

    lines: pl.DataFrame
    counts: dict[str, int]


def product_lines(
    events: pl.DataFrame,
    persons: pl.DataFrame,
    people: pl.DataFrame,
    *,
    rng: np.random.Generator,
    chunk: int,
    salt: int,
    first_day_s: int,
    last_day: int,
    migration_ms: int,
    dirt: Dirt,
) -> ProductLines:
    """Route each event to its source, render it and plant duplicates, lateness and dirt."""
    n = events.height
    p = events["p"].to_numpy().astype(np.int64)
    ts = events["ts"].to_numpy()
    code = events["code"].to_numpy().astype(np.int64)
    identified = events["identified"].to_numpy()
    row = np.arange(n, dtype=np.int64)
    keys = (np.uint64(chunk) << np.uint64(40)) | row.astype(np.uint64)
    web_only = np.isin(code, [SIGNED_UP, IDENTIFY, ALIAS])
    mobile = persons["mobile"].to_numpy()[p]
    source = np.where(
        ts < migration_ms,
        MIXPANEL,
        np.where(mobile & identified & ~web_only, AMPLITUDE, SEGMENT),
    )
    day = (ts // 1000 - first_day_s) // DAY

    u = rng.random(n)
    lag = rng.integers(1, 4, n)
    resend_lag = rng.integers(1, 4, n)
    late = (u < dirt.late) & (day < last_day)
    export_day = np.where(late, np.minimum(day + lag, last_day), day)
    edge1 = dirt.late + dirt.duplicate_in_file
    edge2 = edge1 + dirt.duplicate_across_files
    edge3 = edge2 + dirt.malformed
    dup_in = (u >= dirt.late) & (u < edge1)
    dup_across = (u >= edge1) & (u < edge2) & (export_day < last_day)
    malformed = (u >= edge2) & (u < edge3) & (source != MIXPANEL)
    offset = (source == SEGMENT) & (rng.random(n) < dirt.offset_timestamps)
    offset_kind = rng.integers(0, len(_OFFSETS), n)

    names = pl.Series([e.name for e in PRODUCT_EVENTS])
    kinds = pl.Series([e.kind for e in PRODUCT_EVENTS])
    pages = pl.Series([e.page for e in PRODUCT_EVENTS], dtype=pl.String)
    anon = pl.when(pl.col("device") == 2).then(pl.col("anon2")).otherwise(pl.col("anon1"))
    frame = events.select(
        "ts",
        "props",
        "identified",
        "device",
        source=pl.Series(source, dtype=pl.Int8),
        export_day=pl.Series(export_day, dtype=pl.Int32),
        row=pl.Series(row),
        id=hex16(mix64(keys, salt + 1)),
        name=names.gather(code),
        kind=kinds.gather(code),
        page=pages.gather(code),
        offset=pl.Series(offset),
        offset_minutes=pl.Series(np.array([m for m, _ in _OFFSETS])[offset_kind]),
        offset_text=pl.Series([s for _, s in _OFFSETS]).gather(offset_kind),
    ).with_columns(
        people.select("user_id", "anon1", "anon2", "traits").gather(p).to_struct("who"),
        platform=persons["platform"].gather(p),
    )
    frame = frame.unnest("who").with_columns(
        user_id=pl.when(pl.col("identified")).then(pl.col("user_id")),
        anon=anon,
    )
    rendered = pl.concat(
        [
            frame.filter(pl.col("source") == s).select(
                "source", "export_day", "ts", "row", line=renderer()
            )
            for s, renderer in ((MIXPANEL, _mixpanel), (AMPLITUDE, _amplitude), (SEGMENT, _segment))
        ]
    ).sort("row")
    original = rendered.with_columns(copy=pl.lit(0, pl.Int8))
    in_file = original.filter(pl.Series(dup_in)).with_columns(copy=pl.lit(1, pl.Int8))
    resend_day = np.minimum(export_day + resend_lag, last_day)
    across = original.filter(pl.Series(dup_across)).with_columns(
        export_day=pl.Series(resend_day[dup_across], dtype=pl.Int32), copy=pl.lit(2, pl.Int8)
    )
    bad = original.filter(pl.Series(malformed))
    cut = np.floor(rng.uniform(0.2, 0.9, bad.height) * bad["line"].str.len_chars().to_numpy())
    broken = bad.with_columns(
        line=pl.col("line").str.slice(0, pl.Series(cut.astype(np.int64))),
        copy=pl.lit(3, pl.Int8),
    )
    lines = pl.concat([original, in_file, across, broken]).sort(
        "source", "export_day", "ts", "row", "copy"
    )

    counts: dict[str, int] = {
        "late_arrivals": int(late.sum()),
        "duplicate_lines_within_file": int(dup_in.sum()),
        "duplicates_across_files": int(dup_across.sum()),
        "offset_timestamps": int(offset.sum() + (offset & (dup_in | dup_across)).sum()),
        "equal_timestamps": _ties(p, events["device"].to_numpy(), identified, ts),
    }
    for s, name in enumerate(SOURCES):
        counts[f"events_{name}"] = int((source == s).sum())
        counts[f"lines_{name}"] = int(
            (source == s).sum()
            + (dup_in & (source == s)).sum()
            + (dup_across & (source == s)).sum()
            + (malformed & (source == s)).sum()
        )
        counts[f"malformed_{name}"] = int((malformed & (source == s)).sum())
    for c in UNKNOWN_EVENTS:
        counts[f"unknown_{PRODUCT_EVENTS[c].name}"] = int((code == c).sum())
    assert PRODUCT_EVENTS[TEST_EVENT].name == "test_event"
    return ProductLines(lines, counts)


def _ties(p: I64, device: npt.NDArray[np.int8], identified: npt.NDArray[np.bool_], ts: I64) -> int:
    identity = np.where(identified, 0, device.astype(np.int64))
    groups = (
        pl.DataFrame({"p": p, "identity": identity, "ts": ts}).group_by("p", "identity", "ts").len()
    )
    return int((groups["len"] > 1).sum())


def _timestamp(fmt: str) -> pl.Expr:
    return pl.from_epoch(pl.col("ts"), time_unit="ms").dt.strftime(fmt)


def _quoted(column: str) -> pl.Expr:
    return pl.lit('"') + pl.col(column) + pl.lit('"')


def _segment() -> pl.Expr:
    kind = pl.col("kind")
    shift = pl.when(pl.col("offset")).then(pl.col("offset_minutes") * 60_000).otherwise(0)
    local = pl.from_epoch(pl.col("ts") + shift, time_unit="ms")
    suffix = pl.when(pl.col("offset")).then(pl.col("offset_text")).otherwise(pl.lit("Z"))
    stamp = local.dt.strftime("%Y-%m-%dT%H:%M:%S%.3f") + suffix
    return pl.concat_str(
        [
            pl.lit('{"type":"'),
            kind,
            pl.lit('","messageId":"m-'),
            pl.col("id"),
            pl.lit('"'),
            pl.when(kind != "alias").then(pl.lit(',"anonymousId":') + _quoted("anon")),
            pl.lit(',"userId":'),
            pl.when(pl.col("user_id").is_null()).then(pl.lit("null")).otherwise(_quoted("user_id")),
            pl.when(kind == "track").then(pl.lit(',"event":') + _quoted("name")),
            pl.when(kind == "page").then(pl.lit(',"name":') + _quoted("page")),
            pl.when(kind == "alias").then(pl.lit(',"previousId":') + _quoted("anon")),
            pl.lit(',"timestamp":"'),
            stamp,
            pl.lit('"'),
            pl.when(kind.is_in(["track", "page"])).then(
                pl.lit(',"properties":{') + pl.col("props") + pl.lit("}")
            ),
            pl.when(kind == "identify").then(
                pl.lit(',"traits":{') + pl.col("traits") + pl.lit("}")
            ),
            pl.lit(',"context":{"library":{"name":"analytics.js","version":"4.15.3"}}}'),
        ],
        ignore_nulls=True,
    )


def _amplitude() -> pl.Expr:
    platform = pl.when(pl.col("platform") == "ios").then(pl.lit("iOS")).otherwise(pl.lit("Android"))
    return pl.concat_str(
        [
            pl.lit('{"insert_id":"'),
            pl.col("id"),
            pl.lit('","event_type":'),
            _quoted("name"),
            pl.lit(',"user_id":'),
            _quoted("user_id"),
            pl.lit(',"device_id":'),
            _quoted("anon"),
            pl.lit(',"event_time":"'),
            _timestamp("%Y-%m-%d %H:%M:%S%.6f"),
            pl.lit('","event_properties":{'),
            pl.when(pl.col("page").is_not_null()).then(
                pl.lit('"name":') + _quoted("page") + pl.lit(",")
            ),
            pl.col("props"),
            pl.lit('},"user_properties":{"platform":"'),
            platform,
            pl.lit('"},"platform":"'),
            platform,
            pl.lit('"}'),
        ],
        ignore_nulls=True,
    )


def _mixpanel() -> pl.Expr:
    kind = pl.col("kind")
    is_identify = kind.is_in(["identify", "alias"])
    device_id = pl.lit('"$device:') + pl.col("anon") + pl.lit('"')
    return pl.concat_str(
        [
            pl.lit('{"event":'),
            pl.when(is_identify).then(pl.lit('"$identify"')).otherwise(_quoted("name")),
            pl.lit(',"properties":{"time":'),
            pl.col("ts").cast(pl.String),
            pl.lit(',"distinct_id":'),
            pl.when(pl.col("identified")).then(_quoted("user_id")).otherwise(device_id),
            pl.lit(',"$insert_id":"'),
            pl.col("id"),
            pl.lit('"'),
            pl.when(pl.col("identified")).then(pl.lit(',"$user_id":') + _quoted("user_id")),
            pl.lit(',"$device_id":'),
            _quoted("anon"),
            pl.lit(',"mp_lib":"web"'),
            pl.when(pl.col("page").is_not_null()).then(pl.lit(',"name":') + _quoted("page")),
            pl.when(pl.col("props") != "").then(pl.lit(",") + pl.col("props")),
            pl.when(is_identify).then(
                pl.lit(',"$anon_distinct_id":') + device_id + pl.lit(",") + pl.col("traits")
            ),
            pl.lit("}}"),
        ],
        ignore_nulls=True,
    )


def iso_seconds(column: str) -> pl.Expr:
    """Epoch seconds as ``2026-07-03T10:00:00Z``."""
    return pl.from_epoch(pl.col(column), time_unit="s").dt.strftime("%Y-%m-%dT%H:%M:%SZ")


def _export(
    frame: pl.DataFrame, first_day_s: int, columns: dict[str, pl.Expr | pl.Series]
) -> pl.DataFrame:
    day = ((pl.col("ts") - first_day_s) // DAY).cast(pl.Int32).alias("day")
    named = [value.alias(name) for name, value in columns.items()]
    return frame.select("ts", day, *named)


def _ids(kind: int, chunk: int, n: int) -> pl.Series:
    base = kind * 10**13 + chunk * 10**8
    return pl.Series(np.arange(base, base + n, dtype=np.int64)).cast(pl.String)


@dataclass(frozen=True)
class CrmRows:
    """One chunk's CRM rows, each frame with ``day`` (days after the first) and the export's
    columns in order; ``counts`` says what was planted."""

    activities: pl.DataFrame
    deals: pl.DataFrame
    surveys: pl.DataFrame
    counts: dict[str, int]


def crm_rows(
    activities: pl.DataFrame,
    deals: pl.DataFrame,
    surveys: pl.DataFrame,
    people: pl.DataFrame,
    *,
    rng: np.random.Generator,
    chunk: int,
    first_day_s: int,
    bad_dates: int,
) -> CrmRows:
    """Render HubSpot activities, deal stage changes and survey responses; plant bad dates."""
    contact = people["contact_id"]
    types = pl.Series([a.hubspot_type for a in CRM_ACTIVITIES])
    channels = pl.Series([a.channel for a in CRM_ACTIVITIES])
    ordered_acts = activities.sort("p", "ts", "code")
    acts = _export(
        ordered_acts,
        first_day_s,
        {
            "Activity ID": _ids(1, chunk, activities.height),
            "Associated Contact ID": contact.gather(ordered_acts["p"]),
            "Activity Type": types.gather(ordered_acts["code"]),
            "Activity Date": iso_seconds("ts"),
            "Channel": channels.gather(ordered_acts["code"]),
            "Subject": pl.col("subject"),
        },
    )
    picked = np.sort(rng.choice(acts.height, size=min(bad_dates, acts.height), replace=False))
    broken = acts[picked].with_columns(
        pl.Series("Activity ID", _ids(9, chunk, len(picked))),
        pl.from_epoch(pl.col("ts"), time_unit="s")
        .dt.strftime("%m/%d/%Y %H:%M")
        .alias("Activity Date"),
    )
    acts = pl.concat([acts, broken]).sort("day", "ts", "Activity ID")

    ordered = deals.sort("p", "ts", "deal_stage")
    stages = pl.Series(list(DEAL_STAGES))
    deal_rows = _export(
        ordered,
        first_day_s,
        {
            "Deal ID": (ordered["p"].cast(pl.Int64) + chunk * 10**8 + 3 * 10**13).cast(pl.String),
            "Associated Contact ID": contact.gather(ordered["p"]),
            "Deal Stage": stages.gather(ordered["deal_stage"]),
            "Amount": pl.col("amount").cast(pl.String) + pl.lit(".00"),
            "Stage Changed At": iso_seconds("ts"),
        },
    ).sort("day", "ts", "Deal ID", "Deal Stage")

    answered = surveys.sort("p", "ts", "survey")
    names = pl.Series([s.upper() for s in SURVEYS])
    survey_rows = _export(
        answered,
        first_day_s,
        {
            "Response ID": _ids(2, chunk, answered.height),
            "Contact ID": contact.gather(answered["p"]),
            "Survey Type": names.gather(answered["survey"]),
            "Score": pl.col("score").cast(pl.String),
            "Comment": pl.col("comment"),
            "Submitted At": iso_seconds("ts"),
            "Channel": pl.col("channel"),
        },
    ).sort("day", "ts", "Response ID")
    return CrmRows(
        activities=acts,
        deals=deal_rows,
        surveys=survey_rows,
        counts={"unparseable_dates": len(picked)},
    )
