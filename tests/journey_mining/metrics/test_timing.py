"""Stage timing on hand-built marts, against hand-computed times and a brute-force oracle."""

from __future__ import annotations

import math
import statistics
from collections import defaultdict

import polars as pl
import pytest
from hypothesis import given
from polars.testing import assert_frame_equal

from journey_mining.metrics.stage_funnel import stage_funnel
from journey_mining.metrics.timing import stage_funnel_and_timing, stage_timing
from tests.journey_mining.metrics.test_stage_funnel import (
    AS_OF_H,
    RANDOM,
    SIMPLE,
    TWISTED,
    Attempt,
    as_table,
    attempts_strategy,
    build_marts,
    by_persona,
    judge,
    linked_marts,
    truth_with_ordered_steps,
)
from tests.journey_mining.metrics.test_stats import brute_km


def run(attempts: list[Attempt]) -> pl.DataFrame:
    return stage_timing(build_marts(attempts)).filter(pl.col("journey_id") == "j")


def at_stage(frame: pl.DataFrame, stage: str, persona: str = "all", cohort: str = "all") -> dict:
    [found] = frame.filter(
        pl.col("stage_id") == stage, pl.col("persona_id") == persona, pl.col("cohort") == cohort
    ).to_dicts()
    return found


def linear_percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    position = q * (len(ordered) - 1)
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (position - low) * (ordered[high] - ordered[low])


def test_converters_median_is_the_mean_of_the_middle_two_and_p90_interpolates():
    attempts = [Attempt(f"p{gap}", "dev", (("a", 0, 0), ("b", gap, gap))) for gap in (1, 2, 3, 10)]
    first = at_stage(run(attempts), "a")
    assert first["next_stage_id"] == "b"
    assert first["converters"] == 4
    assert first["median_hours"] == pytest.approx(2.5)
    assert first["p90_hours"] == pytest.approx(3 + 0.7 * 7)


def test_km_median_counts_the_censored_that_the_converters_median_ignores():
    attempts = [
        Attempt("fast", "dev", (("a", 0, 0), ("b", 1, 1))),
        Attempt("slow", "dev", (("a", 0, 0), ("b", 3, 3))),
        # still in its window at as-of, 2 h after reaching a: censored at 2 h
        Attempt("open", "dev", (("a", AS_OF_H - 2, AS_OF_H - 2),)),
        # window closed without b: censored at the close, 48 h after a
        Attempt("gone", "dev", (("a", 0, 0),)),
    ]
    first = at_stage(run(attempts), "a")
    assert (first["converters"], first["median_hours"]) == (2, 2.0)
    # S(1) = 3/4, S(3) = 3/4 * 1/2 = 3/8 <= 1/2
    assert (first["km_n"], first["km_median_hours"]) == (4, 3.0)


def test_km_median_is_null_when_fewer_than_half_can_get_there():
    attempts = [Attempt("fast", "dev", (("a", 0, 0), ("b", 1, 1)))] + [
        Attempt(f"gone{i}", "dev", (("a", 0, 0),)) for i in range(2)
    ]
    first = at_stage(run(attempts), "a")
    assert first["km_n"] == 3
    assert first["km_median_hours"] is None


def test_times_come_from_the_ordered_chain_not_the_first_visit():
    # b before a does not count: a -> b is 5 h (a at 1, b again at 6), not 0 - 1
    looped = Attempt("p1", "dev", (("b", 0, 0), ("a", 1, 1), ("b", 6, 6), ("c", 8, 8)))
    frame = run([looped])
    assert at_stage(frame, "a")["median_hours"] == 5.0
    assert at_stage(frame, "b")["median_hours"] == 2.0
    assert at_stage(frame, "c")["converters"] == 0
    assert at_stage(frame, "c")["median_hours"] is None


def test_time_in_stage_before_drop_off_spans_all_visits_of_the_stage():
    # furthest stage b, window closed: lost at b; in b from 2 until its last activity at 7
    lost = Attempt("p1", "dev", (("a", 0, 0), ("b", 2, 3), ("a", 4, 4), ("b", 6, 7)))
    converted = Attempt("p2", "dev", (("a", 0, 0), ("b", 1, 9), ("c", 10, 10), ("d", 11, 11)))
    frame = run([lost, converted])
    second = at_stage(frame, "b")
    assert (second["dropoffs"], second["dropoff_median_hours_in_stage"]) == (1, 5.0)
    assert at_stage(frame, "a")["dropoffs"] == 0
    assert frame["stage_id"].unique().sort().to_list() == ["a", "b", "c"]


def test_empty_marts_give_an_empty_frame_with_the_documented_columns():
    frame = stage_timing(build_marts([]))
    assert frame.is_empty()
    assert {"km_median_hours", "dropoff_median_hours_in_stage"} <= set(frame.columns)


def oracle_timing(attempts: list[Attempt]) -> dict:
    table: dict = defaultdict(lambda: {"conv": [], "km": [], "drop": []})
    for x in judge(attempts, (SIMPLE, TWISTED), AS_OF_H):
        chain = x.chain()
        designed = x.journey.designed
        for key in x.breakdowns():
            for step, stage in enumerate(designed[:-1], start=1):
                cell = table[(*key, stage)]
                if len(chain) > step:
                    cell["conv"].append(chain[step] - chain[step - 1])
                    cell["km"].append((chain[step] - chain[step - 1], True))
                elif len(chain) == step:
                    cell["km"].append((min(x.close, x.as_of) - chain[step - 1], False))
                if x.status == "dropped" and x.furthest == stage:
                    times = [(t, last) for s, t, last in x.visits if s == stage]
                    cell["drop"].append(max(last for _, last in times) - min(t for t, _ in times))
    expected = {}
    for key, cell in table.items():
        conv, km, drop = cell["conv"], cell["km"], cell["drop"]
        _, km_median = brute_km([d for d, _ in km], [e for _, e in km]) if km else ([], None)
        expected[key] = {
            "converters": len(conv),
            "median_hours": statistics.median(conv) if conv else None,
            "p90_hours": linear_percentile(conv, 0.9) if conv else None,
            "km_n": len(km),
            "km_median_hours": km_median,
            "dropoffs": len(drop),
            "dropoff_median_hours_in_stage": statistics.median(drop) if drop else None,
        }
    return expected


@RANDOM
@given(attempts_strategy())
def test_stage_timing_equals_the_oracle_on_random_logs(attempts):
    expected = oracle_timing(attempts)
    got = as_table(stage_timing(build_marts(attempts)), next(iter(expected.values())).keys())
    assert got.keys() == expected.keys()
    for key, values in expected.items():
        assert got[key] == pytest.approx(values, abs=1e-9), key


@RANDOM
@given(attempts_strategy())
def test_funnel_and_timing_from_one_stored_chain_equal_each_computed_alone(attempts):
    # the mining step computes both from one chain table; each alone builds its own chain
    con = build_marts(attempts)
    funnel, timing = stage_funnel_and_timing(con)
    assert_frame_equal(funnel, stage_funnel(con))
    assert_frame_equal(timing, stage_timing(con))
    assert con.execute("select count(*) from duckdb_tables() where temporary").fetchone() == (0,)


@pytest.mark.slow
def test_demo_stage_timing_equals_the_generators_truth(demo_pipeline):
    con, truth = linked_marts(demo_pipeline)
    designed = demo_pipeline.truth["stages"]
    truth = truth_with_ordered_steps(truth, designed)
    timing = stage_timing(con)
    for persona, people in by_persona(truth):
        for step, stage in enumerate(designed[:-1], start=1):
            converted = people.filter(pl.col("k") > step)
            hours = converted.select(
                (pl.col(f"reached_{designed[step]}_at") - pl.col(f"reached_{stage}_at"))
                .dt.total_milliseconds()
                .truediv(3_600_000)
            )
            hours = hours.to_series().to_list()
            lost = people.filter(pl.col("furthest_stage") == stage, ~pl.col("window_open_at_end"))
            got = at_stage(timing, stage, persona)
            assert (got["converters"], got["dropoffs"]) == (len(hours), lost.height)
            if hours:
                assert got["median_hours"] == pytest.approx(statistics.median(hours))
                assert got["p90_hours"] == pytest.approx(linear_percentile(hours, 0.9))
            assert got["km_n"] == people.filter(pl.col("k") >= step).height
    assert at_stage(timing, designed[0])["km_median_hours"] is not None
