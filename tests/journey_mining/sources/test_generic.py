from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import polars as pl
import pytest

from journey_mining.sources import LandingFileError, generic
from journey_mining.sources._common import combine

LANDING = Path(__file__).parents[2] / "fixtures" / "landing"
NOW = datetime(2026, 7, 10, tzinfo=UTC)

FEED = LANDING / "events" / "generic" / "shop"


def test_generic_csv_uses_the_mapping_beside_it() -> None:
    result = combine(list(generic.read(FEED / "2026-07-03.csv", now=NOW)))
    assert result.rows["event_id"].to_list() == ["g-1", "g-2"]
    assert result.rows["ts"].to_list() == [datetime(2026, 7, 3, 10)] * 2
    assert json.loads(result.rows["properties"][0]) == {"cart": 3}
    assert result.rejects.select("source_line", "reason").rows() == [
        (4, "ts '2026-07-03T11:00:00' has no UTC offset (Z or +hh:mm is required)"),
        (5, "missing field 'ts'"),
    ]


def test_generic_parquet_rows_are_numbered_and_rejects_keep_the_row(tmp_path: Path) -> None:
    feed = tmp_path / "events" / "generic" / "pq"
    feed.mkdir(parents=True)
    (feed / "mapping.yml").write_text(
        "timestamp: epoch_ms\nchannel: app\ncolumns: {event_id: id, event: name, ts: t,"
        " anonymous_id: dev, properties: props}\n"
    )
    frame = pl.DataFrame(
        {
            "id": ["p1", "p2", "p1"],
            "name": ["Opened", None, "Opened"],
            "t": [1783072800000, 1783072800000, 1783072800000],
            "dev": ["d", "d", "d"],
            "props": [{"a": 1}, {"a": 2}, {"a": 3}],
        }
    )
    frame.write_parquet(feed / "2026-07-03.parquet")
    result = combine(list(generic.read(feed / "2026-07-03.parquet", now=NOW)))
    assert result.rows.select("event_id", "source_line", "channel", "properties").rows() == [
        ("p1", 1, "app", '{"a":1}')
    ]
    assert result.rejects.select("source_line", "reason").rows() == [(2, "missing field 'event'")]
    assert json.loads(result.rejects["raw_text"][0])["id"] == "p2"
    assert result.duplicates == 1


def test_generic_jsonl_maps_nested_paths(tmp_path: Path) -> None:
    feed = tmp_path / "feed"
    feed.mkdir()
    (feed / "mapping.yml").write_text(
        "columns: {event_id: meta.id, event: what, ts: when, user_id: who}\n"
    )
    (feed / "a.jsonl").write_text(
        json.dumps({"meta": {"id": 7}, "what": "X", "when": "2026-07-03T10:00:00Z", "who": "u"})
    )
    rows = combine(list(generic.read(feed / "a.jsonl", now=NOW))).rows
    assert rows.select("event_id", "event", "user_id").rows() == [("7", "X", "u")]


def test_bad_mapping_names_file_and_fields(tmp_path: Path) -> None:
    (tmp_path / "mapping.yml").write_text("timestamp: local\ncolumns: {event: e, when: w}\n")
    with pytest.raises(LandingFileError) as info:
        generic.load_mapping(tmp_path / "mapping.yml")
    message = str(info.value)
    assert str(tmp_path / "mapping.yml") in message
    assert "columns.when: not one of" in message
    assert "columns.event_id: required" in message
    assert "timestamp: 'local' is not one of" in message
