import contextlib
import datetime as dt
import io
import math
from pathlib import Path

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from journey_mining.eventlog import read_event_log
from journey_mining.metrics.paths import (
    VARIANT_SEPARATOR,
    _codes_sort_as_labels,
    dfg,
    log_summary,
    traces,
    variants,
)
from tests.conftest import SHARED_DATASETS
from tests.reference.paths_oracle import oracle_dfg, oracle_variants

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "logs"
XES = {
    "case_col": "concept:name",
    "activity_col": "concept:name",
    "timestamp_col": "time:timestamp",
}
CSV = {
    "case_col": "case:concept:name",
    "activity_col": "concept:name",
    "timestamp_col": "time:timestamp",
}
LOGS = {
    "running-example.csv": (SHARED_DATASETS / "running-example.csv", CSV),
    "running-example.xes": (SHARED_DATASETS / "running-example.xes", XES),
    "receipt.csv.gz": (SHARED_DATASETS / "receipt.csv.gz", CSV),
    "tied.csv": (FIXTURES / "tied.csv", CSV),
}


@pytest.fixture(scope="module", params=sorted(LOGS))
def log(request):
    path, columns = LOGS[request.param]
    return read_event_log(path, **columns)


def rows(log):
    return log.con.execute(
        f"select person_key, event, epoch_us(ts) / 1e6, activity_seq from {log.table}"
    ).fetchall()


def pm4py_frame(log):
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        import pm4py  # noqa: PLC0415
    frame = log.con.execute(
        f"select person_key, event, ts from {log.table} order by person_key, ts, activity_seq"
    ).df()
    frame["person_key"] = frame["person_key"].astype(object)
    frame["event"] = frame["event"].astype(object)
    keys = {"case_id_key": "person_key", "activity_key": "event", "timestamp_key": "ts"}
    return pm4py, frame, keys


def test_variants_match_brute_force_and_shares_sum_to_one(log):
    found = variants(log.con, table=log.table)
    assert {v.activities: v.count for v in found} == dict(oracle_variants(rows(log)))
    assert math.isclose(sum(v.share for v in found), 1.0)
    assert [v.count for v in found] == sorted((v.count for v in found), reverse=True)


def test_dfg_matches_brute_force_counts_and_medians(log):
    expected = oracle_dfg(rows(log))
    found = {
        (e.source, e.target): (e.count, e.median_seconds) for e in dfg(log.con, table=log.table)
    }
    assert found.keys() == expected.keys()
    for pair, (count, median) in expected.items():
        assert found[pair][0] == count
        assert math.isclose(found[pair][1], median, abs_tol=1e-6)


def test_variants_and_dfg_match_pm4py(log):
    pm4py, frame, keys = pm4py_frame(log)
    expected_variants = {tuple(k): v for k, v in pm4py.get_variants(frame, **keys).items()}
    assert {v.activities: v.count for v in variants(log.con, table=log.table)} == expected_variants
    graph, starts, ends = pm4py.discover_dfg(frame, **keys)
    edges = dfg(log.con, table=log.table)
    assert {(e.source, e.target): e.count for e in edges} == dict(graph)
    summary = log_summary(log.con, table=log.table)
    assert summary.start_activities == dict(starts)
    assert summary.end_activities == dict(ends)
    performance = pm4py.discover_performance_dfg(frame, **keys)[0]
    for edge in edges:
        assert math.isclose(
            edge.median_seconds, performance[(edge.source, edge.target)]["median"], abs_tol=1e-6
        )


def test_summary_counts_the_running_example():
    log = read_event_log(*LOGS["running-example.xes"][:1], **XES)
    summary = log_summary(log.con, table=log.table)
    assert (summary.cases, summary.events, summary.activities, summary.variants) == (6, 42, 8, 6)


def test_tied_timestamps_keep_file_order():
    log = read_event_log(FIXTURES / "tied.csv", **CSV)
    labels = {v.label for v in variants(log.con, table=log.table)}
    assert labels == {
        "register > check > examine > decide",
        "register > examine > check > decide",
        "register > examine > check > decide > decide",
    }


def test_variants_accept_a_polars_frame():
    import polars as pl  # noqa: PLC0415

    log = read_event_log(FIXTURES / "tied.csv", **CSV)
    frame = log.con.sql(f"select * from {log.table}").pl()
    assert isinstance(frame, pl.DataFrame)
    assert variants(frame) == variants(log.con, table=log.table)


def test_one_sort_gives_what_each_figure_sorted_alone_gives(log):
    compact = traces(log.con, table=log.table)
    alone = variants(log.con, table=log.table)
    assert compact.variants() == alone
    assert compact.dfg() == dfg(log.con, table=log.table)
    assert compact.summary() == log_summary(log.con, table=log.table)
    frame = compact.variants_frame()
    assert [(tuple(a), c, s) for a, c, s in frame.rows()] == [
        (v.activities, v.count, v.share) for v in alone
    ]


# names where one is a prefix of another: after the prefix comes a letter (code order is label
# order) or a space, tab or "!" (it is not: "a > z" sorts before "a !" but "a" before "a !")
TRICKY_NAMES = ["a", "a b", "a !", "a\t", "a >", "a > b", "", " ", "b", "ab", "a-b"]


@settings(max_examples=150, deadline=None)
@given(
    st.lists(
        st.lists(st.sampled_from(TRICKY_NAMES), min_size=1, max_size=4), min_size=1, max_size=30
    )
)
def test_variants_frame_sorts_by_cases_then_label_whatever_the_names(cases):
    log = pl.DataFrame(
        {
            "person_key": [f"p{i}" for i, case in enumerate(cases) for _ in case],
            "event": [name for case in cases for name in case],
            "ts": [
                dt.datetime(2026, 1, 1) + dt.timedelta(seconds=j)
                for case in cases
                for j in range(len(case))
            ],
        }
    )
    frame = traces(log, order_col=None).variants_frame()
    found = [(tuple(a), c) for a, c in frame.select("activities", "cases").rows()]
    counts: dict[tuple[str, ...], int] = {}
    for case in cases:
        counts[tuple(case)] = counts.get(tuple(case), 0) + 1
    assert dict(found) == counts
    keys = [(-c, VARIANT_SEPARATOR.join(a).encode()) for a, c in found]
    assert keys == sorted(keys)


def test_code_order_is_label_order_unless_a_prefix_is_followed_by_a_low_character():
    assert _codes_sort_as_labels(["a", "a b", "ab", "Page Viewed", "Page"])
    assert not _codes_sort_as_labels(["a", "a !"])
    assert not _codes_sort_as_labels(["a", "a\t"])
    assert not _codes_sort_as_labels(["a", "a > b"])
    assert not _codes_sort_as_labels(["a", None])


def test_compact_forms_on_one_connection_stay_apart_until_dropped():
    log = read_event_log(FIXTURES / "tied.csv", **CSV)
    everyone = traces(log.con, table=log.table)
    log.con.execute(
        f"create temp table first_case as select * from {log.table} "
        f"where person_key = (select min(person_key) from {log.table})"
    )
    one_case = traces(log.con, table="first_case")
    assert one_case.summary().cases == 1
    assert everyone.summary().cases == log_summary(log.con, table=log.table).cases > 1
    one_case.drop()
    tables = {
        row[0] for row in log.con.execute("select table_name from duckdb_tables()").fetchall()
    }
    assert not set(one_case.names.values()) & tables
    assert set(everyone.names.values()) <= tables
