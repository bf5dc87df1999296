"""Stage sentiment on hand-built marts: attribution to the stage of the moment, and the figures."""

from __future__ import annotations

import dataclasses
import math
import statistics
from collections import defaultdict

import polars as pl
import pytest
from hypothesis import given
from hypothesis import strategies as st

from journey_mining.metrics.sentiment import stage_sentiment
from journey_mining.metrics.stats import t_quantile
from tests.journey_mining.metrics.test_stage_funnel import (
    AS_OF_H,
    RANDOM,
    SIMPLE,
    TWISTED,
    Activity,
    Attempt,
    attempts_strategy,
    build_marts,
    judge,
)

Z = 1.959963984540054


def same(got: tuple, expected: tuple) -> bool:
    return all(
        a == b if a is None or b is None else math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9)
        for a, b in zip(got, expected, strict=True)
    )


def survey(person: str, ts_h: int, kind: str, score: object) -> Activity:
    return Activity(person, ts_h, "survey_responded", {"survey_type": kind, "score": score})


def ticket(person: str, ts_h: int) -> Activity:
    return Activity(person, ts_h, "ticket_opened", {"subject": "SSO login fails"})


def run(attempts: list[Attempt], activities: list[Activity]) -> pl.DataFrame:
    return stage_sentiment(build_marts(attempts, activities=activities))


def figure(frame: pl.DataFrame, stage: str, metric: str, journey: str = "j") -> dict:
    [found] = frame.filter(
        pl.col("journey_id") == journey,
        pl.col("persona_id") == "all",
        pl.col("cohort") == "all",
        pl.col("stage_id") == stage,
        pl.col("metric") == metric,
    ).to_dicts()
    return found


def test_each_answer_goes_to_the_latest_stage_visited_at_or_before_it():
    person = Attempt("p1", "dev", (("a", 0, 1), ("b", 2, 4), ("a", 5, 6)))
    activities = [
        survey("p1", 1, "csat", 1),  # in a
        survey("p1", 3, "csat", 3),  # in b
        survey("p1", 5, "csat", 5),  # a again, from the same instant
        ticket("p1", 2),  # b, from the same instant
    ]
    frame = run([person], activities)
    assert (figure(frame, "a", "csat")["n"], figure(frame, "a", "csat")["value"]) == (2, 3.0)
    assert (figure(frame, "b", "csat")["n"], figure(frame, "b", "csat")["value"]) == (1, 3.0)
    assert figure(frame, "b", "tickets_per_100")["value"] == 100.0
    assert figure(frame, "a", "tickets_per_100")["value"] == 0.0


def test_only_activities_inside_the_attempt_window_are_attributed():
    person = Attempt("p1", "dev", (("a", 10, 10), ("b", 20, 20)))
    activities = [
        ticket("p1", 9),  # before entering
        ticket("p1", 58),  # exactly at the window's close (10 + 48): counted
        ticket("p1", 59),  # after it
        ticket("stranger", 20),  # no attempt at all
    ]
    frame = run([person], activities)
    assert figure(frame, "a", "tickets_per_100")["value"] == 0.0
    assert figure(frame, "b", "tickets_per_100")["value"] == 100.0


def test_visits_at_the_same_instant_resolve_to_the_later_visit():
    person = Attempt("p1", "dev", (("a", 0, 0), ("b", 2, 2), ("c", 2, 2)))
    frame = run([person], [survey("p1", 2, "ces", 6)])
    assert figure(frame, "c", "ces")["n"] == 1
    assert figure(frame, "b", "ces")["n"] == 0


def test_nps_is_promoters_minus_detractors_with_the_adjusted_wald_interval():
    attempts = [Attempt(f"p{i}", "dev", (("a", 0, 0), ("d", 1, 1))) for i in range(6)]
    scores = [10, 9, 8, 6, 0, 9]
    activities = [survey(f"p{i}", 2, "nps", s) for i, s in enumerate(scores)]
    # out of scale and not a number: left out
    activities += [survey("p0", 3, "nps", 11), survey("p1", 3, "nps", "n/a")]
    got = figure(run(attempts, activities), "d", "nps")
    assert got["n"] == 6
    assert got["value"] == pytest.approx(100 * (3 - 2) / 6)
    pro, det = 3.75 / 9, 2.75 / 9
    half = Z * math.sqrt((pro + det - (pro - det) ** 2) / 9)
    assert (got["low"], got["high"]) == pytest.approx(
        (100 * (pro - det - half), 100 * (pro - det + half))
    )


def test_csat_and_ces_are_means_with_a_student_t_interval():
    attempts = [Attempt(f"p{i}", "dev", (("a", 0, 0), ("b", 1, 1))) for i in range(3)]
    activities = [survey(f"p{i}", 2, "csat", s) for i, s in enumerate([4, 5, 3])]
    activities.append(survey("p0", 2, "ces", 2))
    frame = run(attempts, activities)
    csat = figure(frame, "b", "csat")
    assert (csat["n"], csat["value"]) == (3, 4.0)
    half = 4.302653 * 1.0 / math.sqrt(3)
    assert (csat["low"], csat["high"]) == pytest.approx((4 - half, 4 + half), abs=1e-5)
    ces = figure(frame, "b", "ces")
    assert (ces["n"], ces["value"], ces["low"], ces["high"]) == (1, 2.0, None, None)


def test_tickets_per_100_divide_by_the_attempts_that_reached_the_stage():
    attempts = [Attempt(f"p{i}", "dev", (("a", 0, 0), ("b", 1, 1))) for i in range(4)]
    attempts.append(Attempt("p9", "dev", (("a", 0, 0),)))
    frame = run(attempts, [ticket("p0", 2), ticket("p0", 3), ticket("p1", 2)])
    got = figure(frame, "b", "tickets_per_100")
    assert (got["n"], got["value"]) == (4, 75.0)
    centre, half = 3 + Z * Z / 2, Z * math.sqrt(3 + Z * Z / 4)
    assert (got["low"], got["high"]) == pytest.approx((25 * (centre - half), 25 * (centre + half)))


def test_an_answer_inside_two_journeys_counts_in_each():
    attempts = [
        Attempt("p1", "dev", (("a", 0, 0),)),
        Attempt("p1", "dev", (("x", 0, 0), ("h", 1, 1)), journey="k"),
    ]
    frame = run(attempts, [survey("p1", 2, "csat", 5)])
    assert figure(frame, "a", "csat")["n"] == 1
    assert figure(frame, "h", "csat", journey="k")["n"] == 1
    # every stage of the model gets a row, with nothing measured where nothing happened
    assert figure(frame, "y", "csat", journey="k")["value"] is None
    assert frame.filter(pl.col("journey_id") == "k")["stage_id"].n_unique() == 4


def test_empty_marts_give_an_empty_frame_with_the_documented_columns():
    frame = stage_sentiment(build_marts([]))
    assert frame.is_empty()
    assert frame.columns[-5:] == ["metric", "n", "value", "low", "high"]


@st.composite
def logs(draw):
    attempts = draw(attempts_strategy())
    persons = [*sorted({a.person for a in attempts}), "stranger"]
    activities = []
    for _ in range(draw(st.integers(0, 40))):
        if draw(st.booleans()):
            person = draw(st.sampled_from(persons))
            ts = draw(st.integers(-5, AS_OF_H + 10))
        else:
            attempt = draw(st.sampled_from(attempts))
            person = attempt.person
            ts = attempt.entered + draw(st.integers(-2, 50))
        kind = draw(st.sampled_from(("nps", "nps", "csat", "csat", "ces", "ticket", "other")))
        if kind == "ticket":
            activity = ticket(person, ts)
        elif kind == "other":
            activity = Activity(person, ts, "Page Viewed")
        else:
            top = {"nps": 11, "csat": 5, "ces": 7}[kind]
            activity = survey(person, ts, kind, draw(st.integers(0, top)))
        # the channel is for the map's channel mix (test_attribution); sentiment ignores it
        channel = draw(st.sampled_from(("web", "email")))
        activities.append(dataclasses.replace(activity, channel=channel))
    return attempts, activities


def placements(judged: list, activity: Activity) -> list:
    """The attribution rule by brute force: (judged attempt, stage) for every attempt the
    activity falls in, the stage being the attempt's latest in-window visit at or before it."""
    placed = []
    for x in judged:
        if x.attempt.person != activity.person:
            continue
        if not x.attempt.entered <= activity.ts_h <= min(x.close, x.as_of):
            continue
        numbered = [
            (n, stage)
            for n, (stage, t, last) in enumerate(x.attempt.visits, start=1)
            if (stage, t, last) in x.visits and t <= activity.ts_h
        ]
        if numbered:
            placed.append((x, max(numbered)[1]))
    return placed


def oracle_sentiment(attempts: list[Attempt], activities: list[Activity]) -> dict:
    judged = judge(attempts, (SIMPLE, TWISTED), AS_OF_H)
    scores: dict = defaultdict(lambda: defaultdict(list))
    reached: dict = defaultdict(int)
    for x in judged:
        for key in x.breakdowns():
            for stage in x.journey.stages:
                scores[(*key, stage)]
                reached[(*key, stage)] += stage in x.reached
    for activity in activities:
        for x, stage in placements(judged, activity):
            for key in x.breakdowns():
                cell = scores[(*key, stage)]
                if activity.event == "ticket_opened":
                    cell["tickets"].append(1)
                elif activity.event == "survey_responded":
                    kind, score = activity.properties["survey_type"], activity.properties["score"]
                    if kind != "nps" or 0 <= score <= 10:
                        cell[kind].append(score)
    expected = {}
    for key, cell in scores.items():
        nps = cell["nps"]
        if nps:
            pro = sum(s >= 9 for s in nps)
            det = sum(s <= 6 for s in nps)
            p, d = (pro + 0.75) / (len(nps) + 3), (det + 0.75) / (len(nps) + 3)
            half = Z * math.sqrt((p + d - (p - d) ** 2) / (len(nps) + 3))
            low, high = max(-100, 100 * (p - d - half)), min(100, 100 * (p - d + half))
            expected[(*key, "nps")] = (len(nps), 100 * (pro - det) / len(nps), low, high)
        else:
            expected[(*key, "nps")] = (0, None, None, None)
        for kind in ("csat", "ces"):
            values = cell[kind]
            mean = statistics.mean(values) if values else None
            if len(values) >= 2:
                t = pl.select(t_quantile(pl.lit(len(values) - 1))).item()
                half = t * statistics.stdev(values) / math.sqrt(len(values))
                expected[(*key, kind)] = (len(values), mean, mean - half, mean + half)
            else:
                expected[(*key, kind)] = (len(values), mean, None, None)
        n, x = reached[key], len(cell["tickets"])
        if n:
            centre, half = x + Z * Z / 2, Z * math.sqrt(x + Z * Z / 4)
            expected[(*key, "tickets_per_100")] = (
                n,
                100 * x / n,
                max(0.0, 100 * (centre - half) / n),
                100 * (centre + half) / n,
            )
        else:
            expected[(*key, "tickets_per_100")] = (0, None, None, None)
    return expected


@RANDOM
@given(logs())
def test_stage_sentiment_equals_the_oracle_on_random_logs(log):
    attempts, activities = log
    frame = run(attempts, activities)
    got = {
        (r["journey_id"], r["persona_id"], r["cohort"], r["stage_id"], r["metric"]): (
            r["n"],
            r["value"],
            r["low"],
            r["high"],
        )
        for r in frame.to_dicts()
    }
    expected = oracle_sentiment(attempts, activities)
    assert got.keys() == expected.keys()
    for key, values in expected.items():
        assert same(got[key], values), (key, got[key], values)


@pytest.mark.slow
def test_demo_sentiment_equals_the_surveys_and_tickets_the_generator_planted(demo_pipeline):
    """Every planted answer lands in its stage: n and the realised mean per persona agree."""
    with demo_pipeline.connect() as con:
        frame = stage_sentiment(con).filter(pl.col("cohort") == "all")
    planted = demo_pipeline.truth["sentiment"]
    for stage, survey_truth in planted.items():
        metric = survey_truth["survey"]
        for persona, expected in survey_truth["by_persona"].items():
            [got] = frame.filter(
                pl.col("persona_id") == persona,
                pl.col("stage_id") == stage,
                pl.col("metric") == metric,
            ).to_dicts()
            assert got["n"] == expected["responses"], (stage, persona)
            if metric != "nps":
                assert got["value"] == pytest.approx(expected["realised_mean"], abs=6e-5)
                if got["n"] >= 10:
                    assert got["low"] < expected["realised_mean"] < got["high"]
    tickets = frame.filter(pl.col("persona_id") == "all", pl.col("metric") == "tickets_per_100")
    opened = {
        r["stage_id"]: round(r["value"] * r["n"] / 100) for r in tickets.to_dicts() if r["value"]
    }
    assert opened == demo_pipeline.truth["tickets_opened"]
