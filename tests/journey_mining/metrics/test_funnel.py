import datetime as dt
import json
import math
from pathlib import Path

import duckdb
import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from journey_mining.metrics.funnel import (
    Breakdown,
    Condition,
    Exclusion,
    FunnelSpecError,
    Step,
    funnel,
    funnel_spec_from_dict,
    load_funnel_spec,
)
from tests.reference.funnel_oracle import Ev, oracle_funnel

EPOCH = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)


def frame(events: list[Ev]) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "person_key": [e.person for e in events],
            "event": [e.event for e in events],
            "ts": [EPOCH + dt.timedelta(microseconds=e.ts_us) for e in events],
            "activity_seq": [e.seq for e in events],
            "properties": [json.dumps(e.props) for e in events],
        },
        schema={
            "person_key": pl.String,
            "event": pl.String,
            "ts": pl.Datetime("us", "UTC"),
            "activity_seq": pl.Int64,
            "properties": pl.String,
        },
    )


def assert_same(actual: dict, expected: dict) -> None:
    def close(a, b):
        if isinstance(a, float) or isinstance(b, float):
            return (
                a is not None and b is not None and math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-6)
            )
        return a == b

    def steps_equal(xs, ys):
        assert [s["count"] for s in xs] == [s["count"] for s in ys]
        for x, y in zip(xs, ys, strict=True):
            assert set(x) == set(y)
            for key in x:
                assert close(x[key], y[key]), (key, x, y)

    steps_equal(actual["steps"], expected["steps"])
    assert [b["value"] for b in actual["breakdown"]] == [b["value"] for b in expected["breakdown"]]
    for a, b in zip(actual["breakdown"], expected["breakdown"], strict=True):
        steps_equal(a["steps"], b["steps"])


def minutes(m: float) -> int:
    return round(m * 60_000_000)


def run_both(events, steps, window_minutes, **kwargs):
    actual = funnel(
        frame(events), steps, window_minutes * 60, include_persons=True, **kwargs
    ).to_dict()
    expected = oracle_funnel(
        events,
        steps,
        window_minutes * 60,
        kwargs.get("order", "ordered"),
        kwargs.get("exclusions", ()),
        kwargs.get("breakdown"),
    )
    return actual, expected


def ev(person, event, minute, seq, **props):
    return Ev(person, event, minutes(minute), seq, props)


def test_funnel_worked_example_reentry_converts():
    """FUNNELS.md: A 1:00, A 1:30, B 1:45, C 2:15, window 1h converts from A 1:30."""
    events = [ev("p", "A", 60, 0), ev("p", "A", 90, 1), ev("p", "B", 105, 2), ev("p", "C", 135, 3)]
    result = funnel(frame(events), ["A", "B", "C"], 3600)
    assert [s.count for s in result.steps] == [1, 1, 1]
    assert result.steps[1].average_seconds_from_previous == 15 * 60
    assert result.steps[2].median_seconds_from_previous == 30 * 60


def test_funnel_times_come_from_the_first_attempt_reaching_the_furthest_step():
    events = [ev("p", "A", 0, 0), ev("p", "B", 10, 1), ev("p", "A", 20, 2), ev("p", "B", 40, 3)]
    for exclusions in ([], [Exclusion("X", 1, 2)]):
        actual, expected = run_both(events, [Step("A"), Step("B")], 60, exclusions=exclusions)
        assert_same(actual, expected)
        assert actual["steps"][1]["median_seconds_from_previous"] == 10 * 60


def test_funnel_window_is_inclusive_to_the_second():
    events = [
        ev("p", "A", 0, 0),
        ev("p", "B", 60, 1),
        ev("q", "A", 0, 2),
        ev("q", "B", 60 + 1 / 60, 3),
    ]
    result = funnel(frame(events), ["A", "B"], 3600, include_persons=True)
    assert result.steps[1].persons == ("p",)


def test_funnel_ties_take_step_order():
    events = [ev("p", "B", 0, 0), ev("p", "A", 0, 1)]
    assert [s.count for s in funnel(frame(events), ["A", "B"], 60).steps] == [1, 1]
    assert [s.count for s in funnel(frame(events), ["A", "B"], 60, order="strict").steps] == [1, 1]


def test_funnel_repeated_step_needs_a_second_event():
    once = [ev("p", "A", 0, 0)]
    twice = [*once, ev("p", "A", 0, 1)]
    assert [s.count for s in funnel(frame(once), ["A", "A"], 60).steps] == [1, 0]
    assert [s.count for s in funnel(frame(twice), ["A", "A"], 60).steps] == [1, 1]


def test_funnel_strict_breaks_on_an_event_between():
    events = [ev("p", "A", 0, 0), ev("p", "X", 1, 1), ev("p", "B", 2, 2)]
    assert [s.count for s in funnel(frame(events), ["A", "B"], 3600, order="strict").steps] == [
        1,
        0,
    ]
    assert [s.count for s in funnel(frame(events), ["A", "B"], 3600).steps] == [1, 1]


def test_funnel_exclusion_removes_person_from_every_step():
    events = [ev("p", "A", 0, 0), ev("p", "X", 1, 1), ev("p", "B", 2, 2), ev("q", "A", 0, 3)]
    result = funnel(
        frame(events), ["A", "B"], 3600, exclusions=[Exclusion("X", 1, 2)], include_persons=True
    )
    assert result.steps[0].persons == ("q",)


def test_funnel_all_events_breakdown_never_takes_a_step_from_another_value():
    """Per value, the person's events of other values are not there: x reaches only step 1."""
    events = [ev("p", "A", 0, 0, tag="x"), ev("p", "B", 1, 1, tag="y"), ev("p", "A", 2, 2, tag="y")]
    for order in ("ordered", "strict"):
        actual, expected = run_both(
            events,
            [Step("A"), Step("B")],
            60,
            order=order,
            breakdown=Breakdown(("tag",), "all_events"),
        )
        assert_same(actual, expected)
        counts = [(b["value"], [s["count"] for s in b["steps"]]) for b in actual["breakdown"]]
        assert counts == [(["x"], [1, 0]), (["y"], [1, 0])]


def test_funnel_unordered_counts_distinct_steps_in_one_window():
    events = [ev("p", "C", 0, 0), ev("p", "A", 5, 1), ev("p", "B", 30, 2)]
    result = funnel(frame(events), ["A", "B", "C"], 10 * 60, order="unordered")
    assert [s.count for s in result.steps] == [1, 1, 0]


def test_funnel_conditions_missing_property_is_not_equal():
    events = [ev("p", "A", 0, 0), ev("q", "A", 0, 1, tag="x"), ev("r", "A", 0, 2, tag="y")]
    step = lambda op, value: Step("A", (Condition("tag", op, value),))  # noqa: E731

    def persons(op, value):
        return funnel(frame(events), [step(op, value)], 60, include_persons=True).steps[0].persons

    assert persons("eq", "x") == ("q",)
    assert persons("not_in", ["x"]) == ("p", "r")
    assert persons("in", ["x", "y"]) == ("q", "r")
    assert persons("exists", True) == ("q", "r")


def test_funnel_reads_a_connection_table_with_schema():
    con = duckdb.connect()
    con.execute("create schema marts")
    con.register("frame", frame([ev("p", "A", 0, 0), ev("p", "B", 1, 1)]))
    con.execute("create table marts.fct_activities as select * from frame")
    result = funnel(con, ["A", "B"], 60, table="marts.fct_activities")
    assert [s.count for s in result.steps] == [1, 1]


def test_funnel_spec_file_reads_every_field(tmp_path: Path):
    path = tmp_path / "f.yml"
    path.write_text(
        "steps:\n  - event: signed_up\n  - event: clicked\n"
        "    where: [{property: tag, op: eq, value: button}, {property: url, op: icontains, value: pricing}]\n"
        "window: 7d\norder: strict\nexclusions: [{event: cancelled, from_step: 1, to_step: 2}]\n"
        "breakdown: {properties: [browser, version], attribution: step, step: 2}\n"
    )
    spec = load_funnel_spec(path)
    assert spec.window_seconds == 7 * 86400
    assert spec.order == "strict"
    assert spec.steps[1].where[1] == Condition("url", "icontains", "pricing")
    assert spec.exclusions == (Exclusion("cancelled", 1, 2),)
    assert spec.breakdown == Breakdown(("browser", "version"), "step", 2)


@pytest.mark.parametrize(
    ("data", "fragment"),
    [
        ({}, "steps: must be a non-empty list"),
        ({"steps": ["A"], "order": "sideways"}, "order: 'sideways' is not one of"),
        ({"steps": ["A"], "window": "7 days"}, "window:"),
        (
            {"steps": [{"event": "A", "where": [{"property": "x", "op": "like"}]}]},
            "steps[0].where[0].op",
        ),
        (
            {"steps": ["A", "B"], "exclusions": [{"event": "X", "from_step": 2, "to_step": 1}]},
            "exclusions[0]",
        ),
        (
            {"steps": ["A"], "breakdown": {"properties": ["b"], "attribution": "step"}},
            "breakdown.step",
        ),
        ({"steps": ["A"], "colour": 1}, "colour: unknown key"),
    ],
)
def test_funnel_spec_errors_name_the_field(data, fragment):
    with pytest.raises(FunnelSpecError, match="spec") as info:
        funnel_spec_from_dict(data)
    assert fragment in str(info.value)
    assert "\n" not in str(info.value)


names = st.sampled_from(["A", "B", "C", "X"])
tags = st.sampled_from([None, "x", "y", ""])


@st.composite
def logs(draw):
    events = []
    for seq in range(draw(st.integers(0, 14))):
        props = {}
        tag = draw(tags)
        if tag is not None:
            props["tag"] = tag
        if draw(st.booleans()):
            props["n"] = draw(st.integers(0, 3))
        events.append(
            Ev(
                draw(st.sampled_from(["p", "q", "NA"])),
                draw(names),
                minutes(draw(st.integers(0, 8))),
                seq,
                props,
            )
        )
    return events


conditions = st.one_of(
    st.builds(
        Condition,
        st.just("tag"),
        st.sampled_from(["eq", "not_in", "in", "contains", "startswith", "exists"]),
        st.sampled_from(["x", "y"]),
    ).map(
        lambda c: Condition(
            c.property,
            c.op,
            [c.value] if c.op in {"in", "not_in"} else (True if c.op == "exists" else c.value),
        )
    ),
    st.builds(
        Condition,
        st.just("n"),
        st.sampled_from(["gt", "gte", "lt", "lte", "eq"]),
        st.integers(0, 3),
    ),
)
steps_strategy = st.lists(
    st.builds(
        Step, st.sampled_from(["A", "B", "C", "*"]), st.lists(conditions, max_size=1).map(tuple)
    ),
    min_size=1,
    max_size=4,
)


@st.composite
def funnels(draw):
    steps = draw(steps_strategy)
    n = len(steps)
    exclusions = []
    if n >= 2:
        for _ in range(draw(st.integers(0, 2))):
            low = draw(st.integers(1, n - 1))
            high = draw(st.integers(low + 1, n))
            exclusions.append(
                Exclusion(
                    draw(st.sampled_from(["X", "C"])),
                    low,
                    high,
                    tuple(draw(st.lists(conditions, max_size=1))),
                )
            )
    breakdown = None
    attribution = draw(st.sampled_from([None, "first_touch", "last_touch", "all_events", "step"]))
    if attribution:
        props = draw(st.sampled_from([("tag",), ("tag", "n")]))
        breakdown = Breakdown(
            props, attribution, draw(st.integers(1, n)) if attribution == "step" else None
        )
    return {
        "steps": steps,
        "window": draw(st.sampled_from([1, 2, 3, 5, 60])),
        "order": draw(st.sampled_from(["ordered", "strict", "unordered"])),
        "exclusions": exclusions,
        "breakdown": breakdown,
    }


@settings(
    max_examples=150, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow]
)
@given(events=logs(), definition=funnels())
def test_funnel_sql_matches_brute_force_oracle(events, definition):
    actual, expected = run_both(
        events,
        definition["steps"],
        definition["window"],
        order=definition["order"],
        exclusions=definition["exclusions"],
        breakdown=definition["breakdown"],
    )
    assert_same(actual, expected)
