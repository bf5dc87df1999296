import contextlib
import io
import json
import math
import shutil

import duckdb
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from journey_mining.metrics.conformance import (
    DEVIATION_TYPES,
    _alignment,
    conformance,
    deviations,
    process_model_svg,
)
from journey_mining.metrics.stage_paths import breakdown_variants, loops_and_skips
from tests.reference.stage_log_oracle import (
    Attempt,
    Marts,
    attempt_deviations,
    build,
    lcs,
    oracle_conformance,
    oracle_deviations,
    trace_fitness,
)

PATH = ("discover", "sign_up", "onboard", "activate")
STATUSES = ("converted", "dropped", "in_progress")
needs_dot = pytest.mark.skipif(shutil.which("dot") is None, reason="graphviz is installed by CI")


def attempts_of(*rows: tuple[str, tuple[str, ...], str, str]) -> list[Attempt]:
    return [
        Attempt(f"u{n}", "trial", stages, persona_id=persona, status=status)
        for n, (persona, stages, status, *_) in enumerate(rows)
    ]


@pytest.fixture
def marts() -> Marts:
    return Marts(
        attempts_of(
            ("dev", PATH, "converted"),
            ("dev", PATH, "converted"),
            ("dev", ("discover", "sign_up"), "in_progress"),
            ("dev", ("discover", "onboard", "sign_up", "activate"), "dropped"),
            ("admin", ("discover", "sign_up", "activate"), "dropped"),
            ("admin", ("discover", "sign_up", "activate", "onboard", "activate"), "converted"),
            ("admin", ("sign_up", "discover", "extra"), "dropped"),
        ),
        {"trial": PATH},
    )


@pytest.fixture
def con(marts):
    with build(marts) as connection:
        yield connection


def designed_net(path):
    """The designed path as pm4py's Petri net: a plain sequence of labelled transitions."""
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        import pm4py  # noqa: PLC0415
    from pm4py.objects.petri_net.obj import Marking, PetriNet  # noqa: PLC0415
    from pm4py.objects.petri_net.utils import petri_utils  # noqa: PLC0415

    net = PetriNet("designed")
    places = [PetriNet.Place(f"p{i}") for i in range(len(path) + 1)]
    net.places.update(places)
    for i, stage in enumerate(path):
        transition = PetriNet.Transition(f"t{i}", stage)
        net.transitions.add(transition)
        petri_utils.add_arc_from_to(places[i], transition, net)
        petri_utils.add_arc_from_to(transition, places[i + 1], net)
    return pm4py, net, Marking({places[0]: 1}), Marking({places[-1]: 1})


def pm4py_fitness(variants, path) -> tuple[float, float, int]:
    """pm4py alignments of each aggregated variant, weighted by its attempts."""
    pm4py, net, initial, final = designed_net(path)
    from pm4py.objects.log.obj import Event, EventLog, Trace  # noqa: PLC0415

    log = EventLog([Trace([Event({"concept:name": s}) for s in v.activities]) for v in variants])
    with contextlib.redirect_stderr(io.StringIO()):
        aligned = pm4py.conformance_diagnostics_alignments(log, net, initial, final)
    persons = sum(v.count for v in variants)
    fitness = sum(v.count * a["fitness"] for v, a in zip(variants, aligned, strict=True)) / persons
    cost = sum(v.count * a["cost"] for v, a in zip(variants, aligned, strict=True))
    bwc = sum(v.count * a["bwc"] for v, a in zip(variants, aligned, strict=True))
    perfect = sum(v.count for v, a in zip(variants, aligned, strict=True) if a["fitness"] == 1.0)
    return fitness, 1 - cost / bwc, perfect


def by_breakdown(frame) -> dict:
    return {(r.pop("journey_id"), r.pop("persona_id")): r for r in frame.iter_rows(named=True)}


def assert_close_rows(actual: dict, expected: dict) -> None:
    assert actual.keys() == expected.keys()
    for key, want in expected.items():
        got = actual[key]
        assert got.keys() == want.keys(), key
        for column, value in want.items():
            if isinstance(value, float):
                assert math.isclose(got[column], value, rel_tol=1e-12), (key, column)
            else:
                assert got[column] == value, (key, column)


def test_fitness_equals_pm4py_alignments_on_aggregated_variants(con):
    found = by_breakdown(conformance(con))
    for persona in ("all", "dev", "admin"):
        fitness, log_fitness, perfect = pm4py_fitness(
            breakdown_variants(con, "trial", persona), PATH
        )
        assert math.isclose(found["trial", persona]["fitness"], fitness, rel_tol=1e-12)
        assert math.isclose(found["trial", persona]["log_fitness"], log_fitness, rel_tol=1e-12)
        assert found["trial", persona]["perfectly_fitting"] == perfect


def test_fitness_by_hand(con):
    dev = by_breakdown(conformance(con))["trial", "dev"]
    swapped = 2 * 3 / 8
    unfinished = 2 * 2 / 6
    assert math.isclose(dev["fitness"], (1 + 1 + unfinished + swapped) / 4)
    assert math.isclose(dev["log_fitness"], 1 - (0 + 0 + 2 + 2) / (8 + 8 + 6 + 8))
    assert (dev["perfectly_fitting"], dev["on_designed_path"]) == (2, 3)
    assert dev["perfectly_fitting_share"] == 0.5


def test_conformance_matches_brute_force(con, marts):
    assert_close_rows(by_breakdown(conformance(con)), oracle_conformance(marts))


def test_deviation_definitions_by_hand():
    assert attempt_deviations(("discover", "onboard", "sign_up", "activate"), PATH) == {
        ("skipped_stage", "discover"): False,
        ("skipped_stage", "sign_up"): False,
        ("skipped_stage", "onboard"): False,
        **{("repeated_stage", s): False for s in PATH},
        ("out_of_order", "discover"): False,
        ("out_of_order", "sign_up"): False,
        ("out_of_order", "onboard"): True,
        ("out_of_order", "activate"): False,
    }


def test_deviations_classify_skips_repeats_and_disorder(con):
    frame = deviations(con).filter(journey_id="trial", persona_id="all")
    found = {
        (r["deviation"], r["stage_id"]): (r["persons_affected"], r["lost_after"])
        for r in frame.iter_rows(named=True)
    }
    assert found == {
        ("skipped_stage", "onboard"): (1, 1),
        ("repeated_stage", "activate"): (1, 0),
        ("out_of_order", "activate"): (1, 0),
        ("out_of_order", "onboard"): (1, 1),
        ("out_of_order", "sign_up"): (1, 1),
    }
    assert set(frame["deviation"]) <= set(DEVIATION_TYPES)


def test_lost_share_leaves_in_progress_out_of_the_denominator():
    marts = Marts(
        attempts_of(
            ("p", ("discover", "onboard"), "in_progress"),
            ("p", ("discover", "onboard"), "dropped"),
            ("p", ("discover", "onboard"), "converted"),
            ("p", ("discover", "sign_up", "onboard"), "dropped"),
            ("p", ("discover", "sign_up", "onboard"), "in_progress"),
        ),
        {"trial": PATH},
    )
    with build(marts) as con:
        row = deviations(con).filter(persona_id="all").row(0, named=True)
    assert (row["deviation"], row["stage_id"]) == ("skipped_stage", "sign_up")
    assert (row["persons_exposed"], row["persons_affected"], row["in_progress"]) == (5, 3, 1)
    assert row["lost_share"] == 0.5
    assert row["unaffected_lost_share"] == 1.0


def test_deviations_agree_with_loops_and_skips(con):
    counts = {
        (r["persona_id"], r["stage_id"]): r for r in loops_and_skips(con).iter_rows(named=True)
    }
    for row in deviations(con).iter_rows(named=True):
        source = counts[row["persona_id"], row["stage_id"]]
        if row["deviation"] == "skipped_stage":
            assert row["persons_affected"] == source["skipped"]
            assert row["persons_exposed"] == source["reached_later"]
        if row["deviation"] == "repeated_stage":
            assert row["persons_affected"] == source["loops"]
            assert row["persons_exposed"] == source["reached"]


@needs_dot
def test_process_model_svg_draws_the_breakdown(con, tmp_path):
    path = process_model_svg(con, "trial", "dev", tmp_path / "model" / "dev.svg")
    text = path.read_text()
    assert path == tmp_path / "model" / "dev.svg"
    assert "<svg" in text
    for stage in PATH:
        assert stage in text
    assert "extra" not in text


def test_process_model_svg_refuses_an_empty_breakdown(con, tmp_path):
    with pytest.raises(ValueError, match="'nobody'"):
        process_model_svg(con, "trial", "nobody", tmp_path / "m.svg")


@st.composite
def stage_marts(draw) -> Marts:
    stages = ("a", "b", "c", "d", "x")
    designed = {
        "j1": tuple(draw(st.permutations(stages[:4])))[: draw(st.integers(1, 4))],
        "j2": ("b", "a", "c"),
    }
    attempts = []
    for n in range(draw(st.integers(1, 25))):
        path = [draw(st.sampled_from(stages))]
        for _ in range(draw(st.integers(0, 6))):
            path.append(draw(st.sampled_from([s for s in stages if s != path[-1]])))
        attempts.append(
            Attempt(
                f"u{n % 7}",
                draw(st.sampled_from(["j1", "j2"])),
                tuple(path),
                persona_id=draw(st.sampled_from(["p1", "p2"])),
                status=draw(st.sampled_from(STATUSES)),
                attempt_number=n // 7 + 1,
            )
        )
    return Marts(attempts, designed)


@pytest.fixture(scope="module")
def shared_con():
    with duckdb.connect() as con:
        yield con


@settings(
    max_examples=40, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow]
)
@given(marts=stage_marts())
def test_random_logs_match_brute_force(shared_con, marts):
    con = build(marts, shared_con)
    assert_close_rows(by_breakdown(conformance(con)), oracle_conformance(marts))
    found = {
        (r.pop("journey_id"), r.pop("persona_id"), r.pop("deviation"), r.pop("stage_id")): r
        for r in deviations(con).iter_rows(named=True)
    }
    assert_close_rows(found, oracle_deviations(marts))


@given(
    trace=st.lists(st.sampled_from("abcdx"), min_size=1, max_size=8),
    path=st.permutations("abcd").map(tuple),
)
@settings(max_examples=60, deadline=None, database=None)
def test_oracle_fitness_is_pm4py_alignment_fitness(trace, path):
    """The closed form 2 * LCS / (|t| + |d|) that the SQL computes is pm4py's own number."""
    pm4py, net, initial, final = designed_net(path)
    from pm4py.objects.log.obj import Event, EventLog, Trace  # noqa: PLC0415

    log = EventLog([Trace([Event({"concept:name": s}) for s in trace])])
    with contextlib.redirect_stderr(io.StringIO()):
        aligned = pm4py.conformance_diagnostics_alignments(log, net, initial, final)
    assert math.isclose(trace_fitness(trace, path), aligned[0]["fitness"], rel_tol=1e-12)


@pytest.mark.slow
def test_demo_conformance_equals_pm4py_and_the_process_model_renders(demo_pipeline, tmp_path):
    with demo_pipeline.connect() as con:
        [(designed,)] = con.execute(
            "select distinct designed_path from marts.dim_journey_stages "
            "where journey_id = 'trial_to_paid'"
        ).fetchall()
        path = json.loads(designed)
        found = by_breakdown(conformance(con))
        for persona in ("all", "developer"):
            variants = breakdown_variants(con, "trial_to_paid", persona)
            fitness, log_fitness, perfect = pm4py_fitness(variants, path)
            row = found["trial_to_paid", persona]
            assert row["persons"] == sum(v.count for v in variants)
            assert math.isclose(row["fitness"], fitness, rel_tol=1e-12)
            assert math.isclose(row["log_fitness"], log_fitness, rel_tol=1e-12)
            assert row["perfectly_fitting"] == perfect
        assert {"skipped_stage", "repeated_stage"} <= set(deviations(con)["deviation"])
        if shutil.which("dot"):
            svg = process_model_svg(con, "trial_to_paid", "all", tmp_path / "all.svg")
            text = svg.read_text()
            assert "<svg" in text
            assert all(stage in text for stage in path)


@settings(max_examples=300, deadline=None)
@given(
    trace=st.lists(st.sampled_from(["a", "b", "c", "d", "x"]), max_size=9).map(tuple),
    designed=st.permutations(["a", "b", "c", "d"]).map(tuple),
)
def test_alignment_cost_is_the_brute_force_lcs(trace, designed):
    """Each distinct variant's alignment: |t| + |d| - 2 LCS, checked against the O(n m) table."""
    found = _alignment(trace, designed)
    moves = len(trace) + len(designed)
    assert found["moves"] == moves
    assert found["cost"] == moves - 2 * lcs(trace, designed)
    assert found["is_perfect_fit"] == (trace == designed)
    assert found["is_on_designed_path"] == (trace == designed[: len(trace)])
