"""The map's actions and channels place activities in stages exactly as the sentiment line does.

Both go through ``metrics.attribution``; these tests hold the channel mix and the top actions to
the brute-force rule that the sentiment oracle uses, on hand-built and random marts.
"""

from __future__ import annotations

from collections import Counter, defaultdict

import polars as pl
from hypothesis import given
from polars.testing import assert_frame_equal

from journey_mining.journey_map.document import (
    stage_channel_mix,
    stage_channel_mix_and_top_actions,
    stage_top_actions,
)
from journey_mining.metrics.sentiment import stage_sentiment
from tests.journey_mining.metrics.test_sentiment import logs, placements, ticket
from tests.journey_mining.metrics.test_stage_funnel import (
    AS_OF_H,
    RANDOM,
    SIMPLE,
    TWISTED,
    Activity,
    Attempt,
    build_marts,
    judge,
)


def stages_of(frame: pl.DataFrame, value: str) -> dict:
    return {
        (r["stage_id"], r["channel"]): r[value]
        for r in frame.filter(pl.col("persona_id") == "all", pl.col("cohort") == "all")
        .filter(pl.col("journey_id") == "j")
        .to_dicts()
    }


def test_a_visit_after_the_window_closes_does_not_stretch_the_stage_before_it():
    # window 48 h from 10: closes at 58. The visit of b at 70 is outside it, so an activity at
    # 60 belongs to no stage (it did belong to a while the map used "until the next visit").
    person = Attempt("p1", "dev", (("a", 10, 10), ("b", 70, 70)))
    activities = [ticket("p1", 30), ticket("p1", 60), Activity("p1", 75, "Page Viewed")]
    con = build_marts([person], activities=activities)
    assert stages_of(stage_channel_mix(con), "activities") == {("a", "web"): 1}
    tickets = stage_sentiment(con).filter(
        pl.col("journey_id") == "j",
        pl.col("persona_id") == "all",
        pl.col("cohort") == "all",
        pl.col("metric") == "tickets_per_100",
    )
    assert dict(zip(tickets["stage_id"], tickets["value"], strict=True))["a"] == 100.0


def oracle(attempts: list[Attempt], activities: list[Activity]) -> tuple[dict, dict, dict]:
    """Per breakdown and stage: activities and attempts by channel, and activities by event."""
    judged = judge(attempts, (SIMPLE, TWISTED), AS_OF_H)
    by_channel: Counter = Counter()
    persons: dict = defaultdict(set)
    by_event: dict = defaultdict(Counter)
    for activity in activities:
        for x, stage in placements(judged, activity):
            for key in x.breakdowns():
                by_channel[(*key, stage, activity.channel)] += 1
                persons[(*key, stage, activity.channel)].add((x.attempt.person, x.attempt.number))
                by_event[(*key, stage)][activity.event] += 1
    return dict(by_channel), {k: len(v) for k, v in persons.items()}, by_event


@RANDOM
@given(logs())
def test_channel_mix_and_top_actions_follow_the_attribution_rule_on_random_logs(log):
    attempts, activities = log
    con = build_marts(attempts, activities=activities)
    expected_activities, expected_persons, expected_events = oracle(attempts, activities)
    mix = stage_channel_mix(con)
    keys = ["journey_id", "persona_id", "cohort", "stage_id", "channel"]
    got = {tuple(r[k] for k in keys): r for r in mix.to_dicts()}
    assert {k: r["activities"] for k, r in got.items()} == expected_activities
    assert {k: r["persons"] for k, r in got.items()} == expected_persons
    top = stage_top_actions(con, top=3)  # every event name in the logs
    got_events: dict = defaultdict(dict)
    for r in top.to_dicts():
        key = (r["journey_id"], r["persona_id"], r["cohort"], r["stage_id"])
        got_events[key][r["event"]] = r["activities"]
    assert dict(got_events) == {k: dict(v) for k, v in expected_events.items()}
    # the mining step computes both from one placement of the activities: the same tables
    pair = stage_channel_mix_and_top_actions(con, top=3)
    assert_frame_equal(pair[0], mix)
    assert_frame_equal(pair[1], top)
    assert con.execute("select count(*) from duckdb_tables() where temporary").fetchone() == (0,)
