from __future__ import annotations

import gzip
import json
import shutil
import signal
import subprocess
import sys
import time
from datetime import UTC, date, datetime
from pathlib import Path

import duckdb
import polars as pl
import pytest

from journey_mining import ingest
from journey_mining.ingest import (
    ensure_raw_schema,
    ingest_partition,
    load_partition,
    stage_file,
)
from journey_mining.sources import RAW_COLUMNS

FIXTURES = Path(__file__).parents[1] / "fixtures" / "landing"
NOW = datetime(2026, 7, 10, tzinfo=UTC)
DAY = date(2026, 7, 3)


def event(message_id: str, ts: str, **extra: object) -> str:
    return json.dumps(
        {"type": "track", "messageId": message_id, "userId": "u", "event": "E", "timestamp": ts}
        | extra
    )


@pytest.fixture
def landing(tmp_path: Path) -> Path:
    root = tmp_path / "landing"
    shutil.copytree(FIXTURES, root)
    return root


@pytest.fixture
def con(tmp_path: Path) -> duckdb.DuckDBPyConnection:
    connection = duckdb.connect(str(tmp_path / "journeymap.duckdb"))
    ensure_raw_schema(connection)
    return connection


def contents(con: duckdb.DuckDBPyConnection, table: str) -> pl.DataFrame:
    columns = [
        c
        for c in con.sql(f"select * from {table}").columns
        if c not in {"loaded_at", "rejected_at"}
    ]
    return con.sql(f"select {', '.join(columns)} from {table}").pl().sort(pl.all())


def write_segment(root: Path, name: str, lines: list[str]) -> Path:
    path = root / "events" / "segment" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n")
    return path


def test_raw_schema_matches_the_contract(con: duckdb.DuckDBPyConnection) -> None:
    for table, columns in RAW_COLUMNS.items():
        described = con.sql(f"describe raw.{table}").pl()
        assert described["column_name"].to_list() == [*columns, "loaded_at"]
    types = dict(
        con.sql("describe raw.product_events").pl().select("column_name", "column_type").rows()
    )
    assert (types["ts"], types["event_date"], types["source_line"]) == (
        "TIMESTAMP",
        "DATE",
        "BIGINT",
    )
    assert (
        dict(con.sql("describe raw.crm_contacts").pl().select("column_name", "column_type").rows())[
            "company_size"
        ]
        == "INTEGER"
    )
    assert con.sql("describe raw.rejects").pl()["column_name"].to_list() == [
        "source",
        "source_file",
        "source_line",
        "reason",
        "raw_text",
        "rejected_at",
    ]
    ensure_raw_schema(con)


@pytest.mark.parametrize(
    "table",
    ["product_events", "crm_activities", "crm_deal_stage_changes", "crm_survey_responses"],
)
def test_partition_conserves_rows(
    con: duckdb.DuckDBPyConnection, landing: Path, table: str
) -> None:
    report = ingest_partition(con, table, DAY, landing, now=NOW)
    assert report.partition.conserved
    assert report.loaded > 0
    assert all(f.conserved for f in report.files)
    assert report.failed_files == ()


def test_loading_the_same_partition_twice_leaves_identical_tables(
    con: duckdb.DuckDBPyConnection, landing: Path
) -> None:
    first = ingest_partition(con, "product_events", DAY, landing, now=NOW)
    before = {t: contents(con, t) for t in ("raw.product_events", "raw.rejects")}
    second = ingest_partition(con, "product_events", DAY, landing, now=NOW)
    assert all(f.skipped for f in second.files)
    forced = stage_file(
        con, landing / "events/segment/2026-07-03.jsonl", landing_root=landing, force=True, now=NOW
    )
    assert not forced.skipped
    load_partition(con, "product_events", DAY, now=NOW)
    for table, frame in before.items():
        assert contents(con, table).equals(frame), table
    assert second.partition == first.partition


@pytest.mark.parametrize("table", ["product_events", "crm_activities"])
def test_small_stage_inserts_stage_the_same_rows(
    landing: Path, tmp_path: Path, table: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Rows and rejects gathered across files and batches, then inserted in pieces of any size,
    stage and load exactly what inserting everything at once does."""
    staged = {}
    for rows_per_insert in (1, 3, 10**9):
        monkeypatch.setattr(ingest, "STAGE_INSERT_ROWS", rows_per_insert)
        connection = duckdb.connect(str(tmp_path / f"{table}-{rows_per_insert}.duckdb"))
        ensure_raw_schema(connection)
        report = ingest_partition(connection, table, DAY, landing, now=NOW)
        assert report.partition.conserved
        staged[rows_per_insert] = [
            contents(connection, name)
            for name in (f"landing.{table}", f"raw.{table}", "raw.rejects")
        ]
    one_at_a_time, few, everything = staged.values()
    assert everything[0].height > 3
    assert everything[2].height > 0  # the fixture files hold rejects too
    for frames in (one_at_a_time, few):
        for frame, expected in zip(frames, everything, strict=True):
            assert frame.equals(expected)


def test_event_resent_in_a_later_file_is_not_duplicated(
    con: duckdb.DuckDBPyConnection, tmp_path: Path
) -> None:
    root = tmp_path / "l"
    write_segment(
        root,
        "2026-07-03.jsonl",
        [event("a", "2026-07-03T10:00:00Z"), event("b", "2026-07-03T11:00:00Z")],
    )
    write_segment(
        root,
        "2026-07-04.jsonl",
        [event("a", "2026-07-04T10:00:00Z"), event("c", "2026-07-03T12:00:00Z")],
    )
    day3 = ingest_partition(con, "product_events", DAY, root, now=NOW)
    day4 = ingest_partition(con, "product_events", date(2026, 7, 4), root, now=NOW)
    rows = con.sql(
        "select event_id, source_file, event_date from raw.product_events order by 1"
    ).fetchall()
    assert rows == [
        ("a", "events/segment/2026-07-03.jsonl", DAY),
        ("b", "events/segment/2026-07-03.jsonl", DAY),
        ("c", "events/segment/2026-07-04.jsonl", DAY),
    ]
    assert (day3.loaded, day3.duplicates_dropped) == (3, 0)
    assert (day4.loaded, day4.duplicates_dropped, day4.rows_read) == (0, 1, 1)


@pytest.mark.parametrize("earlier_events", [0, 6], ids=["most-of-the-stage", "small-share"])
def test_a_file_reports_the_days_of_other_files_copies_of_its_keys(
    con: duckdb.DuckDBPyConnection, tmp_path: Path, earlier_events: int
) -> None:
    """A re-sent key whose first copy is on another day touches that day's partition too, and
    the later copy is dropped.

    The later file holds 2 of the stage's rows: most of it, or (with earlier events) a small
    share, where the copies are looked for only among the stage rows sharing its keys.
    """
    root = tmp_path / "l"
    others = [event(f"e{i}", f"2026-07-03T0{i}:00:00Z") for i in range(earlier_events)]
    write_segment(root, "2026-07-03.jsonl", [event("a", "2026-07-03T10:00:00Z"), *others])
    ingest_partition(con, "product_events", DAY, root, now=NOW)
    write_segment(
        root,
        "2026-07-05.jsonl",
        [event("a", "2026-07-05T10:00:00Z"), event("d", "2026-07-05T01:00:00Z")],
    )
    later = ingest_partition(con, "product_events", date(2026, 7, 5), root, now=NOW)
    [resent] = [f for f in later.files if f.source_file.endswith("2026-07-05.jsonl")]
    assert resent.event_dates == (DAY, date(2026, 7, 5))
    assert later.other_dates == (DAY,)
    # the partition's load keeps the first copy (a small share of the stage, too)
    assert (later.partition.loaded, later.partition.duplicates_dropped) == (1, 1)
    loaded = con.sql(
        "select event_id, source_file from raw.product_events where event_id in ('a', 'd')"
    ).fetchall()
    assert sorted(loaded) == [
        ("a", "events/segment/2026-07-03.jsonl"),
        ("d", "events/segment/2026-07-05.jsonl"),
    ]


def test_late_events_land_in_their_own_day_and_are_reported(
    con: duckdb.DuckDBPyConnection, tmp_path: Path
) -> None:
    root = tmp_path / "l"
    write_segment(root, "2026-07-03.jsonl", [event("a", "2026-07-03T10:00:00Z")])
    write_segment(
        root,
        "2026-07-05.jsonl",
        [event("late", "2026-07-03T23:59:00Z"), event("d", "2026-07-05T01:00:00Z")],
    )
    first = ingest_partition(con, "product_events", date(2026, 7, 5), root, now=NOW)
    assert first.other_dates == (DAY,)
    ingest_partition(con, "product_events", DAY, root, now=NOW)
    rows = con.sql("select event_id, event_date from raw.product_events order by 1").fetchall()
    assert rows == [("a", DAY), ("d", date(2026, 7, 5)), ("late", DAY)]


def test_rerun_replaces_rejects_of_the_file(con: duckdb.DuckDBPyConnection, tmp_path: Path) -> None:
    root = tmp_path / "l"
    path = write_segment(
        root, "2026-07-03.jsonl", [event("a", "2026-07-03T10:00:00Z"), "{bad", "{bad"]
    )
    ingest_partition(con, "product_events", DAY, root, now=NOW)
    stage_file(con, path, landing_root=root, force=True, now=NOW)
    assert con.execute("select count(*) from raw.rejects").fetchone() == (2,)
    write_segment(root, "2026-07-03.jsonl", [event("a", "2026-07-03T10:00:00Z"), "{bad"])
    report = ingest_partition(con, "product_events", DAY, root, now=NOW)
    assert con.sql("select source_line, reason from raw.rejects").fetchall() == [
        (2, "malformed JSON")
    ]
    assert (report.rows_read, report.loaded, report.rejected) == (2, 1, 1)


def test_truncated_file_is_staged_up_to_the_break_then_replaced(
    con: duckdb.DuckDBPyConnection, tmp_path: Path
) -> None:

    root = tmp_path / "l"
    lines = [event(f"m{i}", "2026-07-03T10:00:00Z", properties={"i": i}) for i in range(30000)]
    blob = gzip.compress(("\n".join(lines) + "\n").encode())
    path = root / "events" / "segment" / "2026-07-03.jsonl.gz"
    path.parent.mkdir(parents=True)
    path.write_bytes(blob[: len(blob) // 2])
    report = ingest_partition(con, "product_events", DAY, root, now=NOW)
    (failed,) = report.failed_files
    assert failed.source_file == "events/segment/2026-07-03.jsonl.gz"
    assert "truncated" in (failed.error or "")
    partial = report.loaded
    assert 0 < partial < len(lines)
    path.write_bytes(blob)
    again = ingest_partition(con, "product_events", DAY, root, now=NOW)
    assert again.failed_files == ()
    assert again.loaded == len(lines)
    assert con.execute(
        "select count(distinct event_id) = count(*) from raw.product_events"
    ).fetchone() == (True,)


def test_unreadable_file_is_reported_and_others_still_load(
    con: duckdb.DuckDBPyConnection, tmp_path: Path
) -> None:
    root = tmp_path / "l"
    bad = root / "crm" / "hubspot" / "activities" / "2026-07-03.csv"
    bad.parent.mkdir(parents=True)
    bad.write_text("Nope,Header\n1,2\n")
    good = root / "crm" / "hubspot" / "activities" / "2026-07-04.csv"
    good.write_text(
        "Activity ID,Associated Contact ID,Activity Type,Activity Date\na,c,Demo,2026-07-03T10:00:00Z\n"
    )
    report = ingest_partition(con, "crm_activities", DAY, root, now=NOW)
    assert [f.source_file for f in report.failed_files] == ["crm/hubspot/activities/2026-07-03.csv"]
    assert report.loaded == 1


def test_contacts_snapshot_replaces_the_whole_table(
    con: duckdb.DuckDBPyConnection, landing: Path
) -> None:
    report = ingest_partition(con, "crm_contacts", None, landing, now=NOW)
    assert (report.loaded, report.rejected) == (2, 2)
    assert report.partition.conserved
    ingest_partition(con, "crm_contacts", None, landing, now=NOW)
    assert con.execute("select count(*) from raw.crm_contacts").fetchone() == (2,)


def test_source_filter_replaces_only_that_source(
    con: duckdb.DuckDBPyConnection, landing: Path
) -> None:
    ingest_partition(con, "product_events", DAY, landing, now=NOW)
    before = contents(con, "raw.product_events")
    report = ingest_partition(con, "product_events", DAY, landing, source="mixpanel", now=NOW)
    assert report.partition.conserved
    assert contents(con, "raw.product_events").equals(before)


_CHILD = """
import sys
from pathlib import Path
import duckdb
from journey_mining.ingest import ensure_raw_schema, ingest_partition
from datetime import date
con = duckdb.connect(sys.argv[1])
ensure_raw_schema(con)
print("ready", flush=True)
ingest_partition(con, "product_events", date(2026, 7, 3), Path(sys.argv[2]), batch_bytes=4 * 1024 * 1024)
print("done", flush=True)
"""


@pytest.mark.slow
def test_sigkill_mid_partition_keeps_previous_state(tmp_path: Path) -> None:
    root = tmp_path / "l"
    write_segment(
        root,
        "2026-07-03.jsonl",
        [event("a", "2026-07-03T10:00:00Z"), event("b", "2026-07-03T11:00:00Z")],
    )
    database = tmp_path / "db.duckdb"
    con = duckdb.connect(str(database))
    ensure_raw_schema(con)
    ingest_partition(con, "product_events", DAY, root)
    before = {
        t: contents(con, t) for t in ("raw.product_events", "raw.rejects", "landing.product_events")
    }
    con.close()

    n = 1_500_000
    i = pl.col("i").cast(pl.String)
    big = pl.DataFrame({"i": pl.int_range(n, eager=True)}).select(
        pl.concat_str(
            pl.lit('{"type":"track","messageId":"big-'),
            i,
            pl.lit(
                '","userId":"u","event":"E","timestamp":"2026-07-03T12:00:00Z","properties":{"n":'
            ),
            i,
            pl.lit("}}"),
        ).alias("line")
    )
    big.write_csv(
        root / "events" / "segment" / "2026-07-04.jsonl", include_header=False, quote_style="never"
    )

    child = subprocess.Popen(
        [sys.executable, "-c", _CHILD, str(database), str(root)],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert child.stdout is not None
    assert child.stdout.readline().strip() == "ready"
    time.sleep(2.0)
    assert child.poll() is None, "the child finished before it could be killed"
    child.send_signal(signal.SIGKILL)
    child.wait()
    assert child.returncode == -signal.SIGKILL

    con = duckdb.connect(str(database))
    for table, frame in before.items():
        assert contents(con, table).equals(frame), table
    report = ingest_partition(con, "product_events", DAY, root)
    assert report.loaded == n + 2
    assert report.partition.conserved
    assert con.execute(
        "select count(*), count(distinct event_id) from raw.product_events"
    ).fetchone() == (n + 2, n + 2)
    con.close()
