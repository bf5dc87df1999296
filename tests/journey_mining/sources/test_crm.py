from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from journey_mining.sources import RAW_COLUMNS, LandingFileError, crm
from journey_mining.sources._common import _multiline_records, _records, combine

LANDING = Path(__file__).parents[2] / "fixtures" / "landing"
NOW = datetime(2026, 7, 10, tzinfo=UTC)

HUBSPOT = LANDING / "crm" / "hubspot"


def read(reader: object, path: Path):
    return combine(list(reader(path, now=NOW)))  # type: ignore[operator]


def test_hubspot_activities_canonical_types_channels_and_lines() -> None:
    result = read(crm.read_activities, HUBSPOT / "activities" / "2026-07-03.csv")
    assert result.rows.schema == pl.Schema(RAW_COLUMNS["crm_activities"])
    assert result.rows.select("activity_id", "activity_type", "channel", "source_line").rows() == [
        ("a-1", "email_sent", "email", 2),
        ("a-2", "demo", "sales", 3),
        ("a-3", "ticket_opened", "support", 5),
    ]
    assert result.rows["subject"][1] == "Demo\nwith a two-line subject"
    assert result.rows["ts"][2] == datetime(2026, 7, 3, 2)
    assert result.rejects.select("source_line", "reason").rows() == [
        (6, "activity type 'Fax' is not one of the known types"),
        (7, "expected 6 fields, found 5"),
    ]
    assert result.duplicates == 1
    assert result.conserved


def test_salesforce_header_aliases_and_reordered_columns() -> None:
    path = LANDING / "crm" / "salesforce" / "activities" / "2026-07-03.csv"
    result = read(crm.read_activities, path)
    assert result.rows.select("activity_id", "contact_id", "activity_type", "ts").rows() == [
        ("sf-1", "c-9", "call", datetime(2026, 7, 3, 10)),
        ("sf-2", "c-9", "ticket_opened", datetime(2026, 7, 3, 11)),
    ]


def test_wrong_header_is_a_file_error_naming_missing_columns(tmp_path: Path) -> None:
    path = tmp_path / "a.csv"
    path.write_text("Activity ID,Contact,Kind,When\n1,2,Demo,2026-07-03T10:00:00Z\n")
    with pytest.raises(LandingFileError) as info:
        read(crm.read_activities, path)
    message = str(info.value)
    assert message.startswith(f"{path}:1: header lacks required columns: ")
    for name in ("contact_id", "activity_type", "ts"):
        assert name in message
    assert "activity_id" not in message


def test_contacts_parse_sizes_and_reject_bad_ones() -> None:
    result = read(crm.read_contacts, HUBSPOT / "contacts.csv")
    assert result.rows.select("contact_id", "company_size", "external_id").rows() == [
        ("c-1", 250, "u_000123"),
        ("c-2", 1200, None),
    ]
    assert result.rejects.select("source_line", "reason").rows() == [
        (4, "company_size 'many' is not an integer"),
        (5, "missing field 'created_at'"),
    ]


def test_deal_stages_normalise_and_amounts_parse() -> None:
    result = read(crm.read_deal_stage_changes, HUBSPOT / "deal_stage_changes" / "2026-07-03.csv")
    assert result.rows.select("deal_stage", "amount").rows() == [
        ("appointmentscheduled", 1200.0),
        ("closedwon", 1200.5),
    ]
    assert result.rejects["reason"].to_list() == ["amount 'lots' is not a number"]


def test_survey_scores_are_checked_against_their_scale() -> None:
    result = read(crm.read_survey_responses, HUBSPOT / "survey_responses" / "2026-07-03.csv")
    assert result.rows.select("response_id", "survey_type", "score", "channel").rows() == [
        ("s-1", "nps", 9, "email"),
        ("s-2", "csat", 5, "survey"),
    ]
    assert result.rejects["reason"].to_list() == [
        "score '11' is outside 0-10 for NPS",
        "score 'x' is not an integer",
        "survey type 'Poll' is not one of NPS, CSAT, CES",
    ]


def test_unterminated_quote_is_rejected_and_lines_before_kept(tmp_path: Path) -> None:
    path = tmp_path / "a.csv"
    path.write_text(
        "Activity ID,Associated Contact ID,Activity Type,Activity Date\n"
        "a,c,Demo,2026-07-03T10:00:00Z\n"
        'b,c,"Demo,2026-07-03T10:00:00Z\n'
        "c,c,Demo,2026-07-03T10:00:00Z\n"
    )
    result = read(crm.read_activities, path)
    assert result.rows["activity_id"].to_list() == ["a"]
    assert result.rejects.select("source_line", "reason").rows() == [
        (3, "unterminated quoted field")
    ]
    assert result.conserved


def test_csv_batches_keep_multiline_records_whole(tmp_path: Path) -> None:
    path = tmp_path / "a.csv"
    body = "".join(
        f'a{i},c,Demo,2026-07-03T10:00:00Z,"line one\nline two {i}"\n' for i in range(500)
    )
    path.write_text(
        "Activity ID,Associated Contact ID,Activity Type,Activity Date,Subject\n" + body
    )
    batches = list(crm.read_activities(path, now=NOW, batch_bytes=4096))
    result = combine(batches)
    assert len(batches) > 3
    assert result.rows.height == 500
    assert result.rows["source_line"].to_list() == [2 + 2 * i for i in range(500)]
    assert result.rows["subject"][499] == "line one\nline two 499"


def test_empty_csv_reads_zero_rows(tmp_path: Path) -> None:
    path = tmp_path / "a.csv"
    path.write_text("")
    result = read(crm.read_activities, path)
    assert (result.rows_read, result.rows.height) == (0, 0)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.one_of(
            st.none(),
            st.text(alphabet='ab,"', max_size=8).filter(lambda t: t.count('"') % 2 == 0),
        ),
        min_size=1,
        max_size=30,
    )
)
def test_one_line_records_equal_the_general_grouping(texts: list[str | None]) -> None:
    """Without a quoted field spanning lines, taking each line as a record gives exactly the
    records (columns, types, bad lines) that grouping the lines by quote parity does."""
    lines = pl.DataFrame(
        {
            "source_line": list(range(2, 2 + len(texts))),
            "text": texts,
            "bad_text": [("\ufffd" if t is None else None) for t in texts],
            "nbytes": [len(t or "?") for t in texts],
        },
        schema={
            "source_line": pl.Int64,
            "text": pl.String,
            "bad_text": pl.String,
            "nbytes": pl.Int64,
        },
    )
    quotes = pl.col("text").str.count_matches('"').fill_null(0)
    assert _records(lines).equals(_multiline_records(lines, quotes))
