"""The stage funnel on hand-built marts, against hand-counted cases and a brute-force oracle.

The helpers here (building marts from attempts, the ordered-chain oracle, the random-log
strategy) are shared with ``test_timing.py`` and ``test_sentiment.py``.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

import duckdb
import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from journey_mining.metrics.stage_funnel import stage_funnel
from tests.reference.marts import add_attempt_columns_to_visits

T0 = dt.datetime(2026, 6, 25)
AS_OF_H = 240


@dataclass(frozen=True)
class Journey:
    id: str
    stages: tuple[str, ...]
    designed: tuple[str, ...]
    window_h: int

    def order(self, stage: str) -> int:
        return self.stages.index(stage) + 1


@dataclass(frozen=True)
class Attempt:
    """One journey attempt; ``visits`` are (stage, visited_h, last_activity_h) in visit order."""

    person: str
    persona: str
    visits: tuple[tuple[str, int, int], ...]
    journey: str = "j"
    number: int = 1
    entered_h: int | None = None

    @property
    def entered(self) -> int:
        return self.visits[0][1] if self.entered_h is None else self.entered_h


@dataclass(frozen=True)
class Activity:
    person: str
    ts_h: int
    event: str
    properties: dict = field(default_factory=dict)
    channel: str = "web"


SIMPLE = Journey("j", ("a", "b", "c", "d"), ("a", "b", "c", "d"), window_h=48)
# stage order differs from the designed path, and "h" is a stage off the designed path
TWISTED = Journey("k", ("x", "y", "z", "h"), ("x", "z", "y"), window_h=30)


def at(hours: float) -> dt.datetime:
    return T0 + dt.timedelta(hours=hours)


def cohort_of(hours: float) -> str:
    return at(hours).strftime("%Y-%m")


class Judged:
    """An attempt with everything the marts derive from it, computed the obvious way."""

    def __init__(self, attempt: Attempt, journey: Journey, as_of_h: int) -> None:
        self.attempt = attempt
        self.journey = journey
        self.close = attempt.entered + journey.window_h
        self.as_of = as_of_h
        self.visits = [
            (stage, t, last)
            for stage, t, last in attempt.visits
            if attempt.entered <= t <= self.close and t <= as_of_h
        ]
        self.window_closed = self.close <= as_of_h
        reached = {stage for stage, _, _ in self.visits}
        self.reached = reached
        self.furthest = max(reached, key=journey.order)
        if journey.designed[-1] in reached:
            self.status = "converted"
        elif not self.window_closed:
            self.status = "in_progress"
        else:
            self.status = "dropped"

    def chain(self) -> list[int]:
        """FUNNELS.md ordered funnel, literally: try every step-1 visit as a start, scan the
        later visits (sorted by time, ties in step order), keep the first attempt that goes
        furthest. Returns the times at which steps 1..k were filled."""
        designed = self.journey.designed
        events = sorted(
            (t, designed.index(stage) + 1) for stage, t, _ in self.visits if stage in designed
        )
        best: list[int] = []
        for i, (start, step) in enumerate(events):
            if step != 1:
                continue
            filled = [start]
            for t, later_step in events[i + 1 :]:
                if later_step == len(filled) + 1:
                    filled.append(t)
            if len(filled) > len(best):
                best = filled
        return best

    def breakdowns(self) -> list[tuple[str, str, str]]:
        persona, cohort = self.attempt.persona, cohort_of(self.attempt.entered)
        return [(self.journey.id, p, c) for p in (persona, "all") for c in (cohort, "all")]


def judge(attempts: Iterable[Attempt], journeys: Iterable[Journey], as_of_h: int) -> list[Judged]:
    by_id = {j.id: j for j in journeys}
    return [Judged(a, by_id[a.journey], as_of_h) for a in attempts]


def build_marts(
    attempts: list[Attempt],
    journeys: tuple[Journey, ...] = (SIMPLE, TWISTED),
    activities: Iterable[Activity] = (),
    as_of_h: int = AS_OF_H,
) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB with the marts' columns the metrics read, built from attempts."""
    judged = judge(attempts, journeys, as_of_h)
    stages = pl.DataFrame(
        [
            (
                j.id,
                s,
                j.order(s),
                json.dumps(list(j.designed)),
                j.designed.index(s) + 1 if s in j.designed else None,
                j.window_h * 3600,
            )
            for j in journeys
            for s in j.stages
        ],
        schema=[
            "journey_id",
            "stage_id",
            "stage_order",
            "designed_path",
            "designed_position",
            "window_seconds",
        ],
        orient="row",
    )
    journeys_frame = pl.DataFrame(
        [
            (
                x.attempt.person,
                x.journey.id,
                x.attempt.number,
                x.attempt.persona,
                " > ".join(stage for stage, _, _ in x.attempt.visits),
                x.furthest,
                x.status,
                at(x.attempt.entered),
                at(x.close),
                at(as_of_h),
            )
            for x in judged
        ],
        schema={
            "person_key": pl.String,
            "journey_id": pl.String,
            "attempt_number": pl.Int32,
            "persona_id": pl.String,
            "stage_path": pl.String,
            "furthest_stage_id": pl.String,
            "status": pl.String,
            "entered_at": pl.Datetime("us"),
            "window_closes_at": pl.Datetime("us"),
            "as_of_at": pl.Datetime("us"),
        },
        orient="row",
    )
    visits = pl.DataFrame(
        [
            (
                a.person,
                a.journey,
                a.number,
                n,
                stage,
                at(t),
                at(last),
                at(a.visits[n][1]) if n < len(a.visits) else None,
            )
            for a in attempts
            for n, (stage, t, last) in enumerate(a.visits, start=1)
        ],
        schema={
            "person_key": pl.String,
            "journey_id": pl.String,
            "attempt_number": pl.Int32,
            "visit_number": pl.Int32,
            "stage_id": pl.String,
            "visited_at": pl.Datetime("us"),
            "last_activity_at": pl.Datetime("us"),
            "next_visit_at": pl.Datetime("us"),
        },
        orient="row",
    )
    stage_events = pl.DataFrame(
        [
            (
                x.attempt.person,
                x.journey.id,
                x.attempt.number,
                stage,
                at(min(t for s, t, _ in x.visits if s == stage)),
                at(max(last for s, _, last in x.visits if s == stage)),
            )
            for x in judged
            for stage in sorted(x.reached)
        ],
        schema={
            "person_key": pl.String,
            "journey_id": pl.String,
            "attempt_number": pl.Int32,
            "stage_id": pl.String,
            "first_reached_at": pl.Datetime("us"),
            "last_activity_at": pl.Datetime("us"),
        },
        orient="row",
    )
    activity_frame = pl.DataFrame(
        [
            (f"e{i}", a.person, a.event, at(a.ts_h), json.dumps(a.properties), a.channel)
            for i, a in enumerate(activities)
        ],
        schema={
            "event_id": pl.String,
            "person_key": pl.String,
            "event": pl.String,
            "ts": pl.Datetime("us"),
            "properties": pl.String,
            "channel": pl.String,
        },
        orient="row",
    )
    con = duckdb.connect()
    con.execute("create schema marts")
    for name, frame in (
        ("dim_journey_stages", stages),
        ("fct_journeys", journeys_frame),
        ("fct_stage_visits", visits),
        ("fct_stage_events", stage_events),
        ("fct_activities", activity_frame),
    ):
        con.register("_frame", frame.to_arrow())
        con.execute(f"create table marts.{name} as select * from _frame")
        con.unregister("_frame")
    add_attempt_columns_to_visits(con)
    return con


def run(attempts: list[Attempt], **kwargs) -> pl.DataFrame:
    return stage_funnel(build_marts(attempts, **kwargs))


def row(frame: pl.DataFrame, stage: str, persona: str = "all", cohort: str = "all") -> dict:
    [found] = frame.filter(
        pl.col("stage_id") == stage, pl.col("persona_id") == persona, pl.col("cohort") == cohort
    ).to_dicts()
    return found


def counts(frame: pl.DataFrame, column: str, persona: str = "all", cohort: str = "all") -> list:
    return (
        frame.filter(pl.col("persona_id") == persona, pl.col("cohort") == cohort)
        .filter(pl.col("journey_id") == "j")
        .sort("step")[column]
        .to_list()
    )


# --- hand-counted cases -------------------------------------------------------------------


def test_loop_back_to_an_earlier_stage_still_completes_the_ordered_funnel():
    looped = Attempt("p1", "dev", (("a", 0, 0), ("b", 1, 1), ("a", 2, 2), ("b", 3, 3), ("c", 4, 4)))
    frame = run([looped])
    assert counts(frame, "reached") == [1, 1, 1, 0]
    assert counts(frame, "reached_any") == [1, 1, 1, 0]
    assert counts(frame, "converted") == [1, 1, 0, None]
    # window of 48 h closed long before as-of, d never reached: dropped at c
    assert counts(frame, "dropped") == [0, 0, 1, None]
    assert counts(frame, "lost_here") == [0, 0, 1, 0]


def test_skipped_stage_ends_the_ordered_funnel_but_shows_in_the_milestone_view():
    skipped = Attempt("p1", "dev", (("a", 0, 0), ("c", 5, 6)))
    frame = run([skipped])
    assert counts(frame, "reached") == [1, 0, 0, 0]
    assert counts(frame, "reached_any") == [1, 0, 1, 0]
    assert counts(frame, "dropped") == [1, 0, 0, None]
    # the map's drop-off is where the person really stopped: their furthest stage
    assert counts(frame, "lost_here") == [0, 0, 1, 0]


def test_late_entrant_counts_as_entered_and_reached_any_but_not_in_the_ordered_funnel():
    late = Attempt("p1", "dev", (("b", 0, 0), ("c", 1, 1), ("d", 2, 2)))
    frame = run([late])
    assert counts(frame, "entered") == [1, 1, 1, 1]
    assert counts(frame, "reached") == [0, 0, 0, 0]
    assert counts(frame, "reached_any") == [0, 1, 1, 1]
    assert counts(frame, "converted") == [0, 0, 0, None]
    assert counts(frame, "dropped") == [0, 0, 0, None]
    assert counts(frame, "lost_here") == [0, 0, 0, 0]


def test_stages_at_the_same_instant_are_taken_in_step_order():
    # b was logged before a at the same instant; ties go in step order, so a then b
    tied = Attempt("p1", "dev", (("b", 0, 0), ("a", 0, 0), ("c", 3, 3), ("d", 3, 3)))
    frame = run([tied])
    assert counts(frame, "reached") == [1, 1, 1, 1]
    assert counts(frame, "converted") == [1, 1, 1, None]


def test_an_earlier_visit_of_a_later_step_does_not_fill_it():
    # c before b: c only counts when visited again after b
    back = Attempt("p1", "dev", (("a", 0, 0), ("c", 1, 1), ("b", 2, 2)))
    again = Attempt("p2", "dev", (("a", 0, 0), ("c", 1, 1), ("b", 2, 2), ("c", 3, 3)))
    frame = run([back, again])
    assert counts(frame, "reached") == [2, 2, 1, 0]
    assert counts(frame, "reached_any") == [2, 2, 2, 0]


def test_open_window_is_in_progress_and_left_out_of_the_conversion_denominator():
    as_of = AS_OF_H
    attempts = [
        Attempt("done", "dev", (("a", 0, 0), ("b", 1, 1))),
        Attempt("gone", "dev", (("a", 0, 0),)),
        Attempt("left", "dev", (("a", 10, 10),)),
        # the window closes exactly at the as-of time: closed, so dropped
        Attempt("edge", "dev", (("a", as_of - 48, as_of - 48),)),
        Attempt("open", "dev", (("a", as_of - 5, as_of - 5),)),
        Attempt("open2", "dev", (("a", as_of - 47, as_of - 47), ("b", as_of - 1, as_of))),
    ]
    frame = run(attempts).filter(pl.col("journey_id") == "j")
    first = row(frame, "a")
    got = (first["reached"], first["converted"], first["dropped"], first["in_progress"])
    assert got == (6, 2, 3, 1)
    assert first["conversion_n"] == 5
    assert first["conversion_rate"] == pytest.approx(0.4)
    second = row(frame, "b")
    assert (second["dropped"], second["in_progress"]) == (1, 1)
    assert counts(frame, "lost_here") == [3, 1, 0, 0]


def test_window_includes_its_last_second_and_nothing_after():
    exactly = Attempt("p1", "dev", (("a", 0, 0), ("b", 48, 48)))
    after = Attempt("p2", "dev", (("a", 0, 0), ("b", 49, 49)))
    frame = run([exactly, after])
    assert counts(frame, "reached") == [2, 1, 0, 0]
    assert counts(frame, "reached_any") == [2, 1, 0, 0]


def test_each_entry_month_is_its_own_cohort_and_all_adds_them_up():
    attempts = [
        Attempt("june1", "dev", (("a", 0, 0), ("b", 1, 1))),  # 2026-06-25
        Attempt("june2", "ops", (("a", 24, 24),)),
        Attempt("july1", "dev", (("a", 7 * 24, 7 * 24),)),  # 2026-07-02
    ]
    frame = run(attempts).filter(pl.col("journey_id") == "j", pl.col("stage_id") == "a")
    got = {(r["persona_id"], r["cohort"]): (r["entered"], r["converted"]) for r in frame.to_dicts()}
    assert got == {
        ("dev", "2026-06"): (1, 1),
        ("ops", "2026-06"): (1, 0),
        ("dev", "2026-07"): (1, 0),
        ("all", "2026-06"): (2, 1),
        ("all", "2026-07"): (1, 0),
        ("dev", "all"): (2, 1),
        ("ops", "all"): (1, 0),
        ("all", "all"): (3, 1),
    }


def test_steps_follow_the_designed_path_not_the_stage_order():
    # designed x > z > y; stage h is off the path and never a funnel row
    path = Attempt("p1", "dev", (("x", 0, 0), ("h", 1, 1), ("z", 2, 2), ("y", 3, 3)), journey="k")
    wrong = Attempt("p2", "dev", (("x", 0, 0), ("y", 1, 1), ("z", 2, 2)), journey="k")
    frame = run([path, wrong]).filter(pl.col("journey_id") == "k", pl.col("persona_id") == "all")
    frame = frame.filter(pl.col("cohort") == "all")
    assert frame["stage_id"].to_list() == ["x", "z", "y"]
    assert frame["stage_order"].to_list() == [1, 3, 2]
    assert frame["reached"].to_list() == [2, 2, 1]
    assert frame["converted"].to_list() == [2, 1, None]


def test_conversion_interval_is_wilson_and_brackets_the_rate():
    attempts = [Attempt(f"p{i}", "dev", (("a", 0, 0), ("b", 1, 1))) for i in range(3)] + [
        Attempt(f"q{i}", "dev", (("a", 0, 0),)) for i in range(7)
    ]
    first = row(run(attempts).filter(pl.col("journey_id") == "j"), "a")
    z = 1.959963984540054
    p, n = 0.3, 10
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    assert first["conversion_rate"] == pytest.approx(0.3)
    assert (first["conversion_low"], first["conversion_high"]) == pytest.approx(
        (centre - half, centre + half)
    )


def test_empty_marts_give_an_empty_frame_with_the_documented_columns():
    frame = stage_funnel(build_marts([]))
    assert frame.is_empty()
    assert "conversion_rate" in frame.columns
    assert "lost_here" in frame.columns


# --- random logs against the oracle ---------------------------------------------------------


@st.composite
def attempts_strategy(draw, max_persons: int = 10) -> list[Attempt]:
    """Random small journeys: loops, skips, ties, late entries, open and closed windows."""
    attempts: list[Attempt] = []
    for p in range(draw(st.integers(1, max_persons))):
        persona = draw(st.sampled_from(("dev", "ops")))
        for journey in draw(st.sampled_from(((SIMPLE,), (TWISTED,), (SIMPLE, TWISTED)))):
            start = draw(st.integers(0, AS_OF_H))
            for number in (1, 2)[: draw(st.integers(1, 2))]:
                stages = draw(st.lists(st.sampled_from(journey.stages), min_size=1, max_size=7))
                collapsed = [s for i, s in enumerate(stages) if i == 0 or s != stages[i - 1]]
                gaps = draw(
                    st.lists(st.integers(0, 20), min_size=len(collapsed), max_size=len(collapsed))
                )
                t = start
                visits = []
                for i, stage in enumerate(collapsed):
                    t += gaps[i] if i else 0
                    if t > AS_OF_H:
                        break
                    next_t = t + (gaps[i + 1] if i + 1 < len(collapsed) else 3)
                    visits.append((stage, t, draw(st.integers(t, next_t))))
                attempts.append(Attempt(f"p{p}", persona, tuple(visits), journey.id, number))
                start = start + journey.window_h + draw(st.integers(1, 30))
                if start > AS_OF_H:
                    break
    return attempts


def oracle_funnel(attempts: list[Attempt], as_of_h: int = AS_OF_H) -> dict:
    judged = judge(attempts, (SIMPLE, TWISTED), as_of_h)
    table: dict = defaultdict(lambda: defaultdict(int))
    for x in judged:
        designed = x.journey.designed
        k = len(x.chain())
        for key in x.breakdowns():
            for step, stage in enumerate(designed, start=1):
                cell = table[(*key, stage)]
                cell["entered"] += 1
                cell["reached"] += k >= step
                cell["reached_any"] += stage in x.reached
                cell["lost_here"] += x.status == "dropped" and x.furthest == stage
                cell["open_here"] += x.status == "in_progress" and x.furthest == stage
                if step < len(designed):
                    cell["converted"] += k > step
                    cell["dropped"] += k == step and x.window_closed
                    cell["in_progress"] += k == step and not x.window_closed
                else:
                    cell["converted"] = cell["dropped"] = cell["in_progress"] = None
    return {key: dict(value) for key, value in table.items()}


def as_table(frame: pl.DataFrame, columns: Iterator[str] | list[str]) -> dict:
    return {
        (r["journey_id"], r["persona_id"], r["cohort"], r["stage_id"]): {c: r[c] for c in columns}
        for r in frame.to_dicts()
    }


RANDOM = settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@RANDOM
@given(attempts_strategy())
def test_stage_funnel_equals_the_oracle_on_random_logs(attempts):
    frame = run(attempts)
    expected = oracle_funnel(attempts)
    columns = ["entered", "reached", "reached_any", "converted", "dropped", "in_progress"]
    assert as_table(frame, [*columns, "lost_here", "open_here"]) == expected
    for r in frame.to_dicts():
        if r["conversion_n"]:
            assert r["conversion_n"] == r["converted"] + r["dropped"]
            assert r["conversion_low"] <= r["conversion_rate"] <= r["conversion_high"]
        else:
            assert r["conversion_rate"] is None


# --- the demo pipeline against the generator's truth -------------------------------------------


def linked_marts(demo_pipeline) -> tuple[duckdb.DuckDBPyConnection, pl.DataFrame]:
    """The demo marts cut down to the persons the data shows as exactly one person key.

    A person whose anonymous visits were never tied to their contact is several keys on disk,
    so only persons with ``persons_on_disk == 1`` are comparable one to one with the truth.
    """
    truth = demo_pipeline.persons.filter(
        pl.col("persons_on_disk") == 1, pl.col("stage_path").list.len() > 0
    )
    source = demo_pipeline.connect()
    source.register("truth", truth.select("contact_id").to_arrow())
    keys = source.sql(
        "select ids.identifier as contact_id, ids.person_key "
        "from intermediate.int_identities_stitched as ids "
        "join truth on ids.identifier_type = 'contact_id' and ids.identifier = truth.contact_id"
    ).pl()
    source.register("linked", keys.to_arrow())
    con = duckdb.connect()
    con.execute("create schema marts")
    for table in ("fct_journeys", "fct_stage_visits", "fct_stage_events", "fct_activities"):
        rows = source.sql(f"select * from marts.{table} semi join linked using (person_key)")
        con.register("_frame", rows.arrow())
        con.execute(f"create table marts.{table} as select * from _frame")
        con.unregister("_frame")
    con.register("_frame", source.sql("select * from marts.dim_journey_stages").arrow())
    con.execute("create table marts.dim_journey_stages as select * from _frame")
    con.unregister("_frame")
    source.close()
    return con, truth.join(keys, on="contact_id")


def ordered_steps(path: list[str], designed: list[str]) -> int:
    """How long a prefix of the designed path is a subsequence of the visited stages."""
    k = 0
    for stage in path:
        if k < len(designed) and stage == designed[k]:
            k += 1
    return k


def truth_with_ordered_steps(truth: pl.DataFrame, designed: list[str]) -> pl.DataFrame:
    return truth.with_columns(
        k=pl.col("stage_path").map_elements(
            lambda path: ordered_steps(list(path), designed), return_dtype=pl.Int64
        )
    )


def by_persona(truth: pl.DataFrame) -> list[tuple[str, pl.DataFrame]]:
    personas = truth.partition_by("persona", as_dict=True)
    return [("all", truth), *((key[0], people) for key, people in personas.items())]


@pytest.mark.slow
def test_demo_stage_funnel_equals_the_generators_truth(demo_pipeline):
    con, truth = linked_marts(demo_pipeline)
    designed = demo_pipeline.truth["stages"]
    truth = truth_with_ordered_steps(truth, designed)
    funnel = stage_funnel(con)
    months = {"2026-07", "2026-08", "2026-09"}
    assert set(funnel["cohort"]) == {*months, "all"}
    counts = [
        "entered",
        "reached",
        "reached_any",
        "dropped",
        "in_progress",
        "lost_here",
        "open_here",
    ]
    summed = (
        funnel.filter(pl.col("cohort").is_in(list(months)))
        .group_by("persona_id", "stage_id")
        .agg(pl.col(counts).fill_null(0).sum())
        .sort("persona_id", "stage_id")
    )
    overall = funnel.filter(pl.col("cohort") == "all").select(
        "persona_id", "stage_id", pl.col(counts).fill_null(0)
    )
    assert summed.equals(overall.sort("persona_id", "stage_id").cast(summed.schema))
    closed = ~pl.col("window_open_at_end")
    for persona, people in by_persona(truth):
        for step, stage in enumerate(designed, start=1):
            expected = {
                "entered": people.height,
                "reached_any": people.filter(pl.col("stage_path").list.contains(stage)).height,
                "reached": people.filter(pl.col("k") >= step).height,
                "lost_here": people.filter(
                    pl.col("furthest_stage") == stage, stage != designed[-1], closed
                ).height,
                "open_here": people.filter(
                    pl.col("furthest_stage") == stage, stage != designed[-1], ~closed
                ).height,
            }
            if step < len(designed):
                stopped = people.filter(pl.col("k") == step)
                expected |= {
                    "converted": people.filter(pl.col("k") > step).height,
                    "dropped": stopped.filter(closed).height,
                    "in_progress": stopped.filter(~closed).height,
                }
            got = row(funnel, stage, persona)
            assert {key: got[key] for key in expected} == expected, (persona, stage)
    every = funnel.filter(pl.col("persona_id") == "all", pl.col("cohort") == "all")
    # the demo month has skips (ordered < milestone), drop-offs and open windows
    assert (every["reached"] < every["reached_any"]).any()
    assert every["dropped"].sum() > 0
    assert every["in_progress"].sum() > 0
