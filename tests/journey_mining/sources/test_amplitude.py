from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import polars as pl

from journey_mining.sources import RAW_COLUMNS, amplitude
from journey_mining.sources._common import combine

LANDING = Path(__file__).parents[2] / "fixtures" / "landing"
NOW = datetime(2026, 7, 10, tzinfo=UTC)

FIXTURE = LANDING / "events" / "amplitude" / "2026-07-03.json.gz"


def test_amplitude_rows_are_utc_app_events() -> None:
    result = combine(list(amplitude.read(FIXTURE, now=NOW)))
    assert result.rows.schema == pl.Schema(RAW_COLUMNS["product_events"])
    first = result.rows.row(0, named=True)
    assert first["ts"] == datetime(2026, 7, 3, 10, 0, 0, 123000)
    assert (first["event_id"], first["anonymous_id"], first["channel"]) == ("i-1", "dev-1", "app")
    identify = result.rows.row(1, named=True)
    assert (identify["event_type"], identify["event"]) == ("identify", "identify")
    assert identify["traits"] == '{"email":"jane@globex.example"}'
    assert result.conserved


def test_amplitude_rejects_name_the_problem() -> None:
    result = combine(list(amplitude.read(FIXTURE, now=NOW)))
    assert result.rejects.select("source_line", "reason").rows() == [
        (3, "missing field 'user_id' or 'device_id'"),
        (4, "event_time '03/07/2026 10:00' is not 'YYYY-MM-DD HH:MM:SS[.ffffff]' (UTC)"),
        (5, "missing field 'insert_id'"),
    ]
