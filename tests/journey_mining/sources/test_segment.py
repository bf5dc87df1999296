from __future__ import annotations

import gzip
import json
from datetime import UTC, datetime
from pathlib import Path

import polars as pl
import pytest
import zstandard

from journey_mining.sources import RAW_COLUMNS, REJECT_SCHEMA, segment
from journey_mining.sources._common import combine

LANDING = Path(__file__).parents[2] / "fixtures" / "landing"
NOW = datetime(2026, 7, 10, tzinfo=UTC)

FIXTURE = LANDING / "events" / "segment" / "2026-07-03.jsonl"


def read(path: Path, **options: object):
    return combine(list(segment.read(path, now=NOW, **options)))  # type: ignore[arg-type]


def line(**fields: object) -> str:
    base: dict[str, object] = {
        "type": "track",
        "messageId": "m",
        "userId": "u",
        "event": "E",
        "timestamp": "2026-07-03T10:00:00Z",
    }
    base.update(fields)
    return json.dumps({k: v for k, v in base.items() if v is not None})


def test_fixture_rows_and_rejects_have_contract_columns() -> None:
    result = read(FIXTURE)
    assert result.rows.schema == pl.Schema(RAW_COLUMNS["product_events"])
    assert result.rejects.schema == pl.Schema(REJECT_SCHEMA)
    assert result.rows_read == 15
    assert result.conserved


def test_fixture_reasons_name_line_and_problem() -> None:
    reasons = dict(read(FIXTURE).rejects.select("source_line", "reason").iter_rows())
    assert reasons == {
        7: "missing field 'event'",
        8: "timestamp '2026-07-03T09:00:00' has no UTC offset (Z or +hh:mm is required)",
        9: "timestamp '2026-13-01' is not ISO 8601",
        10: "missing field 'userId' or 'anonymousId'",
        11: "malformed JSON",
        13: "field 'event' is object, expected a string",
        14: "timestamp '1999-12-31T23:59:59Z' is before 2000-01-01",
        15: "type 'group' is not one of track, page, screen, identify, alias",
    }


def test_duplicate_message_id_keeps_first_line() -> None:
    result = read(FIXTURE)
    assert result.duplicates == 1
    first = result.rows.filter(pl.col("event_id") == "m-001")
    assert first["source_line"].to_list() == [1]


def test_calls_map_to_canonical_events() -> None:
    rows = read(FIXTURE).rows.sort("source_line")
    by_id = {r["event_id"]: r for r in rows.iter_rows(named=True)}
    assert by_id["m-002"]["event"] == "Page Viewed"
    assert json.loads(by_id["m-002"]["properties"])["name"] == "Pricing"
    assert by_id["m-005"]["event"] == "Screen Viewed"
    assert by_id["m-005"]["channel"] == "app"
    assert by_id["m-001"]["channel"] == "web"
    assert json.loads(by_id["m-003"]["traits"])["email"] == "Jane.Doe@Globex.example"
    assert by_id["m-003"]["properties"] is None
    assert by_id["m-004"]["previous_id"] == "anon-1"
    assert by_id["m-004"]["event_type"] == "alias"


def test_mixed_offsets_convert_to_the_same_utc_instant(tmp_path: Path) -> None:
    path = tmp_path / "events" / "segment" / "x.jsonl"
    path.parent.mkdir(parents=True)
    stamps = ["2026-07-03T10:00:00Z", "2026-07-03T12:00:00+02:00", "2026-07-03T05:30:00-0430"]
    path.write_text("\n".join(line(messageId=str(i), timestamp=t) for i, t in enumerate(stamps)))
    rows = read(path).rows
    assert set(rows["ts"].to_list()) == {datetime(2026, 7, 3, 10)}


def test_late_evening_offset_lands_on_utc_day(tmp_path: Path) -> None:
    path = tmp_path / "s.jsonl"
    path.write_text(line(timestamp="2026-07-02T23:30:00-01:00"))
    assert read(path).rows["event_date"].to_list() == [datetime(2026, 7, 3).date()]


def test_future_timestamp_is_rejected(tmp_path: Path) -> None:
    path = tmp_path / "s.jsonl"
    path.write_text(line(timestamp="2026-07-11T00:00:01Z") + "\n" + line(messageId="b"))
    result = read(path)
    assert result.rejects["reason"].to_list() == [
        "timestamp '2026-07-11T00:00:01Z' is more than 1 day in the future"
    ]
    assert result.rows.height == 1


def test_non_utf8_line_is_rejected_and_the_rest_kept(tmp_path: Path) -> None:
    path = tmp_path / "s.jsonl"
    bad = line(messageId="b", event="cafX").encode().replace(b"cafX", b"caf\xe9")
    path.write_bytes(b"\n".join([line(messageId="a").encode(), bad, line(messageId="c").encode()]))
    result = read(path)
    assert result.rows["event_id"].to_list() == ["a", "c"]
    assert result.rejects.select("source_line", "reason").rows() == [(2, "line is not valid UTF-8")]
    assert "caf" in result.rejects["raw_text"][0]


def test_byte_order_mark_is_ignored(tmp_path: Path) -> None:
    path = tmp_path / "s.jsonl"
    path.write_bytes(b"\xef\xbb\xbf" + line().encode() + b"\r\n")
    result = read(path)
    assert result.rows.height == 1
    assert result.rejects.height == 0


def test_empty_file_reads_zero_rows(tmp_path: Path) -> None:
    path = tmp_path / "s.jsonl"
    path.write_bytes(b"")
    result = read(path)
    assert (result.rows_read, result.rows.height, result.rejects.height) == (0, 0, 0)
    assert result.error is None


@pytest.mark.parametrize("suffix", [".jsonl.gz", ".jsonl.zst"])
def test_compressed_files_read_like_plain(tmp_path: Path, suffix: str) -> None:
    data = FIXTURE.read_bytes()
    path = tmp_path / f"2026-07-03{suffix}"
    packed = gzip.compress(data) if suffix.endswith("gz") else zstandard.compress(data)
    path.write_bytes(packed)
    plain, packed_result = read(FIXTURE), read(path)
    assert packed_result.rows.drop("source_file").equals(plain.rows.drop("source_file"))
    assert packed_result.rejects["reason"].to_list() == plain.rejects["reason"].to_list()


@pytest.mark.parametrize(
    ("suffix", "compress"), [(".gz", gzip.compress), (".zst", zstandard.compress)]
)
def test_truncated_file_reads_complete_lines_and_reports_the_break(
    tmp_path: Path, suffix: str, compress: object
) -> None:
    lines = [line(messageId=f"m{i}", properties={"pad": "x" * (i % 50)}) for i in range(20000)]
    blob = compress("\n".join(lines).encode() + b"\n")  # type: ignore[operator]
    path = tmp_path / f"s.jsonl{suffix}"
    path.write_bytes(blob[: len(blob) // 2])
    result = read(path)
    assert result.error is not None
    assert result.error.path == str(path)
    assert 0 < result.rows.height < len(lines)
    assert result.error.line == result.rows_read + 1
    assert result.rows["event_id"].to_list() == [f"m{i}" for i in range(result.rows.height)]
    assert result.rejects.height == 0


def test_one_megabyte_properties_load_whole(tmp_path: Path) -> None:
    big = "x" * 1_000_000
    path = tmp_path / "s.jsonl"
    path.write_text(line(properties={"blob": big}))
    result = read(path)
    assert json.loads(result.rows["properties"][0])["blob"] == big


def test_line_above_limit_is_rejected_with_its_size(tmp_path: Path) -> None:
    path = tmp_path / "s.jsonl"
    text = line(properties={"blob": "x" * 5000})
    path.write_text(text + "\n" + line(messageId="small"))
    result = read(path, max_line_bytes=4096)
    assert result.rejects["reason"].to_list() == [
        f"line is {len(text)} bytes, above the limit of 4096 bytes"
    ]
    assert result.rows["event_id"].to_list() == ["small"]


def test_batches_give_the_same_result_as_one_read(tmp_path: Path) -> None:
    path = tmp_path / "s.jsonl"
    lines = [line(messageId=f"m{i % 700}") for i in range(1000)] + ["{bad"]
    path.write_text("\n".join(lines))
    batches = list(segment.read(path, now=NOW, batch_bytes=8192))
    assert len(batches) > 5
    whole = combine(batches)
    assert whole.rows.height == 700
    assert whole.duplicates == 300
    assert whole.rejects["source_line"].to_list() == [1001]
    assert all(b.conserved for b in batches)


def test_wrong_types_are_rejected(tmp_path: Path) -> None:
    path = tmp_path / "s.jsonl"
    path.write_text(
        "\n".join(
            [
                line(userId=["u"]),
                line(properties="not an object"),
                line(timestamp=1783072800),
                line(userId=42),
                "[1, 2]",
            ]
        )
    )
    result = read(path)
    assert result.rejects["reason"].to_list() == [
        "field 'userId' is array, expected a string or an integer",
        "field 'properties' is varchar, expected an object",
        "field 'timestamp' is ubigint, expected a string",
        "line is not a JSON object",
    ]
    assert result.rows["user_id"].to_list() == ["42"]
