import datetime as dt
import gzip
import json
import shutil
from pathlib import Path

import polars as pl
import pytest

from journey_mining.eventlog import EventLogError, read_event_log

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "logs"
EVENTS = {"case_col": "person_id", "activity_col": "event", "timestamp_col": "timestamp"}
UTC = dt.UTC


def table(path, **kwargs):
    log = read_event_log(path, **{**EVENTS, **kwargs})
    return log.con.execute(
        f"select activity_seq, person_key, event, ts, properties from {log.table} order by activity_seq"
    ).fetchall()


def test_semicolon_csv_with_bom_and_quoted_delimiter():
    rows = table(FIXTURES / "semicolon_bom.csv")
    assert [r[1] for r in rows] == ["u1", "u1", "NA"]
    assert json.loads(rows[0][4])["tag"] == "a;b"
    assert rows[1][3] == dt.datetime(2024, 1, 2, 10, 30, 0, 500000, tzinfo=UTC)


def test_gzip_csv_reads_like_the_plain_file(tmp_path):
    target = tmp_path / "events.csv.gz"
    target.write_bytes(gzip.compress((FIXTURES / "semicolon_bom.csv").read_bytes()))
    assert table(target) == table(FIXTURES / "semicolon_bom.csv")


def test_tab_separated_epoch_seconds():
    rows = table(FIXTURES / "tabs.tsv")
    assert rows[0][3] == dt.datetime(2024, 1, 2, 10, 0, tzinfo=UTC)


def test_na_case_is_a_case_and_epoch_milliseconds_are_read():
    rows = table(FIXTURES / "epoch_ms_na.csv")
    assert [r[1] for r in rows] == ["NA", "NA", "N/A"]
    assert rows[1][3] == dt.datetime(2024, 1, 2, 10, 1, tzinfo=UTC)


def test_mixed_offsets_become_utc_instants():
    rows = table(FIXTURES / "mixed_offsets.csv")
    assert [r[3] for r in rows] == [
        dt.datetime(2024, 3, 31, 0, 30, tzinfo=UTC),
        dt.datetime(2024, 3, 31, 0, 45, tzinfo=UTC),
        dt.datetime(2024, 3, 31, 1, 0, tzinfo=UTC),
        dt.datetime(2024, 3, 31, 1, 0, tzinfo=UTC),
    ]


def test_timestamp_format_reads_day_first():
    rows = table(FIXTURES / "day_first.csv", timestamp_format="%d/%m/%Y %H:%M")
    assert rows[0][3] == dt.datetime(2024, 2, 3, 10, 0, tzinfo=UTC)
    assert rows[2][3] == dt.datetime(2024, 2, 13, 9, 0, tzinfo=UTC)


def test_json_lines_keep_every_key_as_a_property():
    rows = table(FIXTURES / "events.jsonl")
    assert json.loads(rows[0][4])["version"] == 3
    assert json.loads(rows[1][4])["url"] == "/Pricing"


def test_parquet_with_native_timestamps_and_integer_ids(tmp_path):
    target = tmp_path / "events.parquet"
    pl.DataFrame(
        {
            "person_id": [7, 7],
            "event": ["a", "b"],
            "timestamp": [
                dt.datetime(2024, 1, 1, tzinfo=UTC),
                dt.datetime(2024, 1, 1, 0, 0, 1, tzinfo=UTC),
            ],
        }
    ).write_parquet(target)
    rows = table(target)
    assert [r[1] for r in rows] == ["7", "7"]
    assert rows[1][3] == dt.datetime(2024, 1, 1, 0, 0, 1, tzinfo=UTC)


def test_xes_gzip_flattens_trace_attributes(tmp_path):
    source = Path(__file__).resolve().parents[1] / "fixtures" / "datasets" / "running-example.xes"
    target = tmp_path / "log.xes.gz"
    with source.open("rb") as plain, gzip.open(target, "wb") as packed:
        shutil.copyfileobj(plain, packed)
    log = read_event_log(
        target, case_col="concept:name", activity_col="concept:name", timestamp_col="time:timestamp"
    )
    assert log.events == 42
    cases = log.con.execute(f"select count(distinct person_key) from {log.table}").fetchall()
    assert cases == [(6,)]


@pytest.mark.parametrize(
    ("name", "kwargs", "fragment"),
    [
        ("bad_timestamp.csv", {}, "row 2: unparseable timestamp 'yesterday' in column 'timestamp'"),
        ("empty.csv", {}, "empty log"),
        ("tabs.tsv", {"case_col": "user"}, "unknown person or case id column 'user'"),
        ("day_first.csv", {}, "row 1: unparseable timestamp '03/02/2024 10:00'"),
        ("missing.csv", {}, "no such file"),
        ("funnel_spec.yml", {}, "unknown log format '.yml'"),
    ],
)
def test_bad_input_raises_one_line_error_naming_it(name, kwargs, fragment):
    with pytest.raises(EventLogError) as info:
        table(FIXTURES / name, **kwargs)
    assert fragment in str(info.value)
    assert "\n" not in str(info.value)


def test_empty_case_id_names_the_row(tmp_path):
    target = tmp_path / "e.csv"
    target.write_text("person_id,event,timestamp\np,a,2024-01-01\n,b,2024-01-01\n")
    with pytest.raises(EventLogError, match="row 2: empty value in column 'person_id'"):
        table(target)


def test_empty_json_lines_file_is_an_empty_log(tmp_path):
    target = tmp_path / "e.jsonl"
    target.write_text("")
    with pytest.raises(EventLogError, match="empty log"):
        table(target)
