from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from journey_mining.sources import mixpanel
from journey_mining.sources._common import combine

LANDING = Path(__file__).parents[2] / "fixtures" / "landing"
NOW = datetime(2026, 7, 10, tzinfo=UTC)

FIXTURE = LANDING / "events" / "mixpanel" / "2026-07-03.jsonl.zst"


def test_mixpanel_seconds_and_milliseconds_give_the_same_instant() -> None:
    rows = combine(list(mixpanel.read(FIXTURE, now=NOW))).rows
    assert rows["ts"].to_list()[:2] == [
        datetime(2026, 7, 3, 10),
        datetime(2026, 7, 3, 10, 0, 0, 123000),
    ]


def test_mixpanel_device_distinct_id_is_anonymous() -> None:
    rows = combine(list(mixpanel.read(FIXTURE, now=NOW))).rows
    device = rows.row(1, named=True)
    assert (device["user_id"], device["anonymous_id"]) == (None, "anon-9")
    user = rows.row(0, named=True)
    assert (user["user_id"], user["anonymous_id"], user["channel"]) == ("u_000123", "anon-9", "web")
    assert rows.row(2, named=True)["event_type"] == "identify"


def test_mixpanel_rejects() -> None:
    result = combine(list(mixpanel.read(FIXTURE, now=NOW)))
    assert result.rejects.select("source_line", "reason").rows() == [
        (4, "time 'yesterday' is not epoch seconds or milliseconds"),
        (5, "missing field 'properties.$insert_id'"),
    ]
    assert result.conserved
