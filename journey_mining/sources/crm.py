"""CRM exports shaped like HubSpot or Salesforce objects (CSV with a header row).

One reader per object: contacts, activities (engagements/tasks), deal stage changes and survey
responses. Header aliases map both vendors' column names (and our canonical names) to the raw
table's columns, so a reordered or renamed header works; a header lacking a required column is
a file-level :class:`~journey_mining.sources._common.LandingFileError` naming each missing
column. Timestamps need ``Z`` or an offset, as in the contract.

Line numbers are physical lines of the file (the header is line 1); a record with a quoted
field spanning lines has the number of its first line.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from datetime import datetime
from pathlib import Path

import polars as pl

from journey_mining.sources._common import (
    DEFAULT_BATCH_BYTES,
    DEFAULT_MAX_LINE_BYTES,
    KEY_COLUMNS,
    Check,
    CsvColumn,
    Deduper,
    ReadResult,
    empty_rejects,
    empty_rows,
    iso_offset_reason,
    iter_csv_batches,
    missing,
    parse_iso_with_offset,
    quoted,
    range_reason,
    split_result,
    utc_now,
    with_reasons,
)

ACTIVITY_TYPES: dict[str, str] = {
    "marketing email sent": "email_sent",
    "email sent": "email_sent",
    "email": "email_sent",
    "marketing email opened": "email_opened",
    "email opened": "email_opened",
    "marketing email clicked": "email_clicked",
    "email clicked": "email_clicked",
    "sales call": "call",
    "call": "call",
    "meeting": "meeting",
    "event": "meeting",
    "demo": "demo",
    "ticket opened": "ticket_opened",
    "case opened": "ticket_opened",
    "ticket closed": "ticket_closed",
    "case closed": "ticket_closed",
}
"""Vendor activity types (lower case) -> canonical; canonical names map to themselves."""
ACTIVITY_TYPES.update({v: v for v in set(ACTIVITY_TYPES.values())})

SURVEY_RANGES: dict[str, tuple[int, int]] = {"nps": (0, 10), "csat": (1, 5), "ces": (1, 7)}

CONTACT_COLUMNS = (
    CsvColumn("contact_id", ("Record ID", "Contact ID", "Id", "contact_id")),
    CsvColumn("email", ("Email", "Email Address")),
    CsvColumn("first_name", ("First Name", "FirstName"), required=False),
    CsvColumn("last_name", ("Last Name", "LastName"), required=False),
    CsvColumn("company", ("Company Name", "Account Name", "Company")),
    CsvColumn("role", ("Job Title", "Title", "Role")),
    CsvColumn(
        "company_size", ("Number of Employees", "NumberOfEmployees", "Employees", "Company Size")
    ),
    CsvColumn("segment", ("Segment", "Customer Segment", "Segment__c"), required=False),
    CsvColumn("lifecycle_stage", ("Lifecycle Stage", "Lead Status", "Status"), required=False),
    CsvColumn("created_at", ("Create Date", "Created Date", "CreatedDate", "created_at")),
    CsvColumn(
        "external_id",
        ("Product User ID", "Product_User_ID__c", "External ID", "external_id"),
        required=False,
    ),
)

ACTIVITY_COLUMNS = (
    CsvColumn("activity_id", ("Activity ID", "Engagement ID", "Task ID", "activity_id", "Id")),
    CsvColumn(
        "contact_id",
        ("Associated Contact ID", "Contact ID", "Who ID", "WhoId", "Name ID", "contact_id"),
    ),
    CsvColumn(
        "activity_type",
        ("Activity Type", "Engagement Type", "Task Subtype", "TaskSubtype", "Type"),
    ),
    CsvColumn(
        "ts",
        ("Activity Date", "Activity Date Time", "Completed Date Time", "Created Date", "ts"),
    ),
    CsvColumn("subject", ("Subject",), required=False),
)

DEAL_COLUMNS = (
    CsvColumn("deal_id", ("Deal ID", "Opportunity ID", "OpportunityId", "deal_id")),
    CsvColumn(
        "contact_id",
        ("Associated Contact ID", "Contact ID", "Primary Contact ID", "ContactId", "contact_id"),
    ),
    CsvColumn("deal_stage", ("Deal Stage", "Stage", "StageName", "To Stage", "deal_stage")),
    CsvColumn("amount", ("Amount",), required=False),
    CsvColumn(
        "ts",
        ("Stage Changed At", "Stage Change Date", "Created Date", "CreatedDate", "ts"),
    ),
)

SURVEY_COLUMNS = (
    CsvColumn("response_id", ("Response ID", "Survey Response ID", "response_id", "Id")),
    CsvColumn("contact_id", ("Contact ID", "Associated Contact ID", "ContactId", "contact_id")),
    CsvColumn("survey_type", ("Survey Type", "Type", "survey_type")),
    CsvColumn("score", ("Score", "Rating", "score")),
    CsvColumn("comment", ("Comment", "Comments", "Feedback"), required=False),
    CsvColumn("ts", ("Submitted At", "Submitted Date", "Response Date", "ts")),
    CsvColumn("channel", ("Channel",), required=False),
)


def _timestamp(frame: pl.DataFrame, column: str, label: str, now: datetime) -> pl.DataFrame:
    frame = frame.with_columns(parse_iso_with_offset(pl.col(column)).alias("_ts"))
    return with_reasons(
        frame,
        missing(column, label),
        iso_offset_reason(pl.col(column), pl.col("_ts"), label),
        range_reason(pl.col(column), pl.col("_ts"), label, now),
    ).with_columns(pl.col("_ts").alias(column))


def _contacts(frame: pl.DataFrame, now: datetime) -> pl.DataFrame:
    size = pl.col("company_size").str.replace_all(r"[,\s_]", "").cast(pl.Int32, strict=False)
    frame = with_reasons(frame, missing("contact_id"))
    frame = _timestamp(frame, "created_at", "created_at", now)
    frame = with_reasons(
        frame,
        Check(
            pl.col("company_size").is_not_null() & size.is_null(),
            pl.format("company_size {} is not an integer", quoted(pl.col("company_size"))),
        ),
    )
    return frame.with_columns(company_size=size)


def _activities(frame: pl.DataFrame, now: datetime) -> pl.DataFrame:
    canonical = (
        pl.col("activity_type")
        .str.strip_chars()
        .str.to_lowercase()
        .replace_strict(ACTIVITY_TYPES, default=None, return_dtype=pl.String)
    )
    frame = with_reasons(frame, missing("activity_id"), missing("contact_id"))
    frame = _timestamp(frame, "ts", "activity date", now)
    frame = with_reasons(
        frame,
        missing("activity_type"),
        Check(
            canonical.is_null(),
            pl.format(
                "activity type {} is not one of the known types", quoted(pl.col("activity_type"))
            ),
        ),
    ).with_columns(activity_type=canonical)
    kind = pl.col("activity_type")
    return frame.with_columns(
        channel=pl.when(kind.str.starts_with("email_"))
        .then(pl.lit("email"))
        .when(kind.str.starts_with("ticket_"))
        .then(pl.lit("support"))
        .otherwise(pl.lit("sales")),
        event_date=pl.col("ts").dt.date(),
    )


def _deals(frame: pl.DataFrame, now: datetime) -> pl.DataFrame:
    amount = pl.col("amount").str.replace_all(r"[$€£,\s]", "").cast(pl.Float64, strict=False)
    frame = with_reasons(frame, missing("deal_id"), missing("contact_id"), missing("deal_stage"))
    frame = _timestamp(frame, "ts", "stage changed at", now)
    frame = with_reasons(
        frame,
        Check(
            pl.col("amount").is_not_null() & amount.is_null(),
            pl.format("amount {} is not a number", quoted(pl.col("amount"))),
        ),
    )
    return frame.with_columns(
        amount=amount,
        deal_stage=pl.col("deal_stage").str.to_lowercase().str.replace_all(r"[^a-z0-9]", ""),
        event_date=pl.col("ts").dt.date(),
    )


def _surveys(frame: pl.DataFrame, now: datetime) -> pl.DataFrame:
    kind = pl.col("survey_type").str.strip_chars().str.to_lowercase()
    score = pl.col("score").cast(pl.Int32, strict=False)
    low = kind.replace_strict({k: v[0] for k, v in SURVEY_RANGES.items()}, default=None)
    high = kind.replace_strict({k: v[1] for k, v in SURVEY_RANGES.items()}, default=None)
    frame = with_reasons(frame, missing("response_id"), missing("contact_id"))
    frame = _timestamp(frame, "ts", "submitted at", now)
    frame = with_reasons(
        frame,
        missing("survey_type"),
        Check(
            ~kind.is_in(list(SURVEY_RANGES)),
            pl.format("survey type {} is not one of NPS, CSAT, CES", quoted(pl.col("survey_type"))),
        ),
        missing("score"),
        Check(score.is_null(), pl.format("score {} is not an integer", quoted(pl.col("score")))),
        Check(
            (score < low) | (score > high),
            pl.format(
                "score {} is outside {}-{} for {}",
                quoted(pl.col("score")),
                low,
                high,
                kind.str.to_uppercase(),
            ),
        ),
    )
    channel = pl.col("channel").str.strip_chars().str.to_lowercase()
    return frame.with_columns(
        survey_type=kind,
        score=score,
        channel=pl.when(channel.is_in(["email", "app"])).then(channel).otherwise(pl.lit("survey")),
        event_date=pl.col("ts").dt.date(),
    )


def _reader(
    table: str,
    columns: Sequence[CsvColumn],
    transform: Callable[[pl.DataFrame, datetime], pl.DataFrame],
) -> Callable[..., Iterator[ReadResult]]:
    def read(
        path: Path,
        *,
        source_file: str | None = None,
        source: str = "crm",
        batch_bytes: int = DEFAULT_BATCH_BYTES,
        max_line_bytes: int = DEFAULT_MAX_LINE_BYTES,
        now: datetime | None = None,
    ) -> Iterator[ReadResult]:
        name = source_file if source_file is not None else str(path)
        reference = utc_now(now)
        dedupe = Deduper(KEY_COLUMNS[table])
        empty = True
        for batch, error in iter_csv_batches(path, name, columns, batch_bytes, max_line_bytes):
            absent = {c.name for c in columns} - set(batch.columns)
            records = batch.with_columns(pl.lit(None, pl.String).alias(c) for c in absent)
            frame = transform(records, reference)
            empty = False
            yield split_result(
                frame, table=table, source=source, source_file=name, dedupe=dedupe, error=error
            )
        if empty:
            yield ReadResult(table, source, name, empty_rows(table), empty_rejects(), 0)

    read.__doc__ = f"""Read a CRM CSV export into batches of ``raw.{table}`` rows.

    Parameters
    ----------
    path
        The landing file (plain, .gz or .zst).
    source_file
        The name recorded in ``source_file`` (default: ``str(path)``).
    source
        The vendor recorded with rejects (``hubspot``, ``salesforce``).
    batch_bytes, max_line_bytes, now
        As for :func:`journey_mining.sources.segment.read`.
    """
    return read


read_contacts = _reader("crm_contacts", CONTACT_COLUMNS, _contacts)
read_activities = _reader("crm_activities", ACTIVITY_COLUMNS, _activities)
read_deal_stage_changes = _reader("crm_deal_stage_changes", DEAL_COLUMNS, _deals)
read_survey_responses = _reader("crm_survey_responses", SURVEY_COLUMNS, _surveys)
