from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from journey_mining.journey_model import format_duration, parse_duration


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("30d", 30 * 86_400),
        ("2w", 14 * 86_400),
        ("12h", 43_200),
        ("90m", 5_400),
        ("45s", 45),
        ("1d12h", 129_600),
        ("1h30m", 5_400),
    ],
)
def test_parse_duration_reads_units(text: str, seconds: int) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "30", "d", "30 days", "1.5d", "-1d", "30D", "0d", "0h0m"])
def test_parse_duration_refuses_non_durations(text: str) -> None:
    with pytest.raises(ValueError, match="duration"):
        parse_duration(text)


@given(st.integers(min_value=1, max_value=10**9))
def test_format_duration_round_trips(seconds: int) -> None:
    assert parse_duration(format_duration(seconds)) == seconds
