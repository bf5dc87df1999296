import contextlib
import io
import itertools
import math
from collections import Counter

import duckdb
import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from journey_mining.metrics.stage_paths import (
    breakdown_variants,
    event_variants,
    loops_and_skips,
    stage_dfg,
    stage_variants,
)
from tests.reference.stage_log_oracle import (
    END,
    START,
    Activity,
    Attempt,
    Marts,
    build,
    oracle_dfg,
    oracle_event_variants,
    oracle_loops_and_skips,
    oracle_stage_variants,
)

TRIAL = ("discover", "sign_up", "onboard", "activate")
STATUSES = ("converted", "dropped", "in_progress")


def hand_built() -> Marts:
    """Two personas, a loop, a skip, a disorder, one person in two journeys and two attempts."""
    return Marts(
        attempts=[
            Attempt("u1", "trial", TRIAL, (0, 100, 250, 400), "dev", "converted"),
            Attempt("u2", "trial", TRIAL, (0, 50, 60, 90), "dev", "converted"),
            Attempt("u3", "trial", ("discover", "sign_up", "activate"), persona_id="admin"),
            Attempt(
                "u4",
                "trial",
                (*TRIAL, "onboard", "activate"),
                (0, 10, 20, 30, 40, 50),
                "admin",
                "in_progress",
            ),
            Attempt("u5", "trial", ("discover",), persona_id="dev"),
            Attempt("u6", "trial", ("sign_up", "discover", "onboard"), persona_id="admin"),
            Attempt("u1", "other", ("a", "b"), persona_id="dev", status="converted"),
            Attempt("u7", "trial", ("discover", "sign_up"), persona_id="dev"),
            Attempt("u7", "trial", ("discover",), persona_id="dev", attempt_number=2),
        ],
        designed={"trial": TRIAL, "other": ("a", "b")},
    )


@pytest.fixture
def marts() -> Marts:
    return hand_built()


@pytest.fixture
def con(marts):
    with build(marts) as connection:
        yield connection


def rows_by_breakdown(frame: pl.DataFrame, length_col: str) -> dict:
    out: dict = {}
    for row in frame.rename({length_col: "length"}).iter_rows(named=True):
        key = (row.pop("journey_id"), row.pop("persona_id"))
        out.setdefault(key, []).append(row)
    return out


def assert_rows_equal(actual: dict, expected: dict) -> None:
    assert actual.keys() == expected.keys()
    for key, rows in expected.items():
        assert len(actual[key]) == len(rows), key
        for got, want in zip(actual[key], rows, strict=True):
            assert got.keys() >= want.keys()
            for column, value in want.items():
                if isinstance(value, float):
                    assert math.isclose(got[column], value, rel_tol=1e-12), (key, column)
                else:
                    assert got[column] == value, (key, column, got, want)


def dfg_as_dict(frame: pl.DataFrame) -> dict:
    return {
        (r["journey_id"], r["persona_id"], r["source"], r["target"]): (
            r["transitions"],
            r["persons"],
            r["median_seconds"],
        )
        for r in frame.iter_rows(named=True)
    }


def assert_dfg_equal(actual: dict, expected: dict) -> None:
    assert actual.keys() == expected.keys()
    for edge, (transitions, persons, median) in expected.items():
        assert actual[edge][:2] == (transitions, persons), edge
        if median is None:
            assert actual[edge][2] is None, edge
        else:
            assert math.isclose(actual[edge][2], median, abs_tol=1e-6), edge


def pm4py_stage_log(con, journey_id: str, persona_id: str | None):
    """The stage log of one breakdown as a pandas frame in pm4py's shape, and pm4py."""
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        import pm4py  # noqa: PLC0415
    frame = con.execute(
        "select person_key || '/' || attempt_number as case_id, stage_id, visited_at "
        "from marts.fct_stage_visits where journey_id = $journey "
        "and ($persona is null or persona_id = $persona) "
        "order by case_id, visit_number",
        {"journey": journey_id, "persona": persona_id},
    ).df()
    for column in ("case_id", "stage_id"):
        frame[column] = frame[column].astype(object)
    keys = {"case_id_key": "case_id", "activity_key": "stage_id", "timestamp_key": "visited_at"}
    return pm4py, frame, keys


def assert_equal_to_pm4py(con, journey_id: str, persona_id: str) -> None:
    pm4py, frame, keys = pm4py_stage_log(
        con, journey_id, None if persona_id == "all" else persona_id
    )
    expected = {tuple(k): v for k, v in pm4py.get_variants(frame, **keys).items()}
    found = stage_variants(con).filter(journey_id=journey_id, persona_id=persona_id)
    assert {
        tuple(v.split(" > ")): n for v, n in found.select("variant", "persons").rows()
    } == expected
    graph, starts, ends = pm4py.discover_dfg(frame, **keys)
    performance = pm4py.discover_performance_dfg(frame, **keys)[0]
    edges = stage_dfg(con).filter(journey_id=journey_id, persona_id=persona_id)
    inner = edges.filter(pl.col("source") != START, pl.col("target") != END)
    counts = {(s, t): n for s, t, n in inner.select("source", "target", "transitions").rows()}
    assert counts == dict(graph)
    assert dict(edges.filter(source=START).select("target", "transitions").rows()) == starts
    assert dict(edges.filter(target=END).select("source", "transitions").rows()) == ends
    for source, target, median in inner.select("source", "target", "median_seconds").rows():
        assert math.isclose(median, performance[source, target]["median"], abs_tol=1e-6)


def test_variants_and_dfg_equal_pm4py_on_every_breakdown(con):
    for journey_id, persona_id in [("trial", "all"), ("trial", "dev"), ("trial", "admin")]:
        assert_equal_to_pm4py(con, journey_id, persona_id)


def test_variants_rank_count_outcomes_and_cover_80_percent(con, marts):
    frame = stage_variants(con)
    assert_rows_equal(rows_by_breakdown(frame, "n_stages"), oracle_stage_variants(marts.attempts))
    trial = frame.filter(journey_id="trial", persona_id="all")
    assert trial["persons"].to_list() == [2, 2, 1, 1, 1, 1]
    assert trial["variant"].to_list()[:3] == ["discover", " > ".join(TRIAL), "discover > sign_up"]
    assert trial["share"][0] == 0.25
    assert trial["cumulative_share"].to_list() == [0.25, 0.5, 0.625, 0.75, 0.875, 1.0]
    assert trial["in_top_80"].to_list() == [True] * 5 + [False]
    assert trial.filter(variant=" > ".join(TRIAL))["converted"].item() == 2


def test_an_attempt_is_the_unit_not_the_person(con):
    u7 = stage_variants(con).filter(journey_id="trial", persona_id="dev", variant="discover")
    assert u7["persons"].item() == 2


def test_ties_in_persons_rank_by_variant_text(con):
    admin = stage_variants(con).filter(journey_id="trial", persona_id="admin")
    assert admin["variant"].to_list() == sorted(admin["variant"].to_list())
    assert admin["rank"].to_list() == [1, 2, 3]


def test_dfg_counts_loops_per_transition_and_attempts_once(con):
    edges = dfg_as_dict(stage_dfg(con))
    transitions, persons, median = edges["trial", "all", "onboard", "activate"]
    assert (transitions, persons) == (4, 3)
    assert median == 20.0
    assert edges["trial", "all", "activate", "onboard"][:2] == (1, 1)
    assert edges["trial", "all", START, "discover"][:2] == (7, 7)
    assert edges["trial", "all", START, "sign_up"][:2] == (1, 1)
    assert edges["trial", "all", "activate", END] == (4, 4, None)
    assert not any(source == target for _, _, source, target in edges)


def test_dfg_matches_brute_force(con, marts):
    assert_dfg_equal(dfg_as_dict(stage_dfg(con)), oracle_dfg(marts.attempts))


def test_loops_and_skips_by_hand(con):
    trial = {
        r["stage_id"]: r
        for r in loops_and_skips(con)
        .filter(journey_id="trial", persona_id="all")
        .iter_rows(named=True)
    }
    onboard = trial["onboard"]
    assert (onboard["reached"], onboard["loops"], onboard["skipped"]) == (4, 1, 1)
    assert onboard["reached_later"] == 4
    assert onboard["skip_rate"] == 0.25
    assert onboard["loop_rate"] == 0.25
    assert trial["discover"]["skipped"] == 0
    assert trial["activate"]["skip_rate"] is None
    assert [r["designed_position"] for r in trial.values()] == [1, 2, 3, 4]


def test_loops_and_skips_list_every_designed_stage_for_every_breakdown(con, marts):
    frame = loops_and_skips(con)
    expected = oracle_loops_and_skips(marts)
    assert {(r[0], r[1], r[2]) for r in frame.rows()} == expected.keys()
    admin_other = frame.filter(journey_id="other", persona_id="admin")
    assert admin_other.is_empty()


def test_event_variants_window_ties_and_top():
    attempts = [
        Attempt("u1", "trial", ("discover",), window_seconds=1_000),
        Attempt("u2", "trial", ("discover",), window_seconds=1_000, as_of_seconds=500),
        Attempt("u3", "trial", ("discover",), (5,)),
    ]
    activities = [
        Activity("u1", "before", -5, 0),
        Activity("u1", "B", 0, 2),
        Activity("u1", "A", 0, 1),
        Activity("u1", "C", 1_000, 3),
        Activity("u1", "after", 1_001, 4),
        Activity("u2", "A", 0, 5),
        Activity("u2", "B", 0, 6),
        Activity("u2", "C", 500, 7),
        Activity("u2", "late", 501, 8),
    ]
    with build(Marts(attempts, {"trial": ("discover",)}, activities)) as con:
        frame = event_variants(con).filter(persona_id="all")
        assert frame.select("variant", "persons", "n_events").rows() == [
            ("A > B > C", 2, 3),
            ("", 1, 0),
        ]
        top = event_variants(con, top=1).filter(persona_id="all")
        assert top.height == 1
        assert top["distinct_variants"].item() == 2
        with pytest.raises(ValueError, match="top must be at least 1"):
            event_variants(con, top=0)


def test_breakdown_variants_are_pm4py_ready(con):
    found = breakdown_variants(con, "trial", "admin")
    assert [v.label for v in found] == stage_variants(con).filter(
        journey_id="trial", persona_id="admin"
    )["variant"].to_list()
    assert breakdown_variants(con, "trial", "nobody") == ()


def test_empty_marts_give_empty_frames_with_their_columns():
    with build(Marts([], {"trial": TRIAL})) as con:
        assert stage_variants(con).columns[:4] == ["journey_id", "persona_id", "rank", "variant"]
        for metric in (stage_variants, event_variants, stage_dfg, loops_and_skips):
            assert metric(con).is_empty()


@st.composite
def stage_marts(draw) -> Marts:
    """Random attempts over 5 stages (one off the designed path), two journeys, ties in time."""
    stages = ("a", "b", "c", "d", "x")
    designed = {
        "j1": tuple(draw(st.permutations(stages[:4])))[: draw(st.integers(1, 4))],
        "j2": ("b", "a"),
    }
    keys = draw(
        st.lists(
            st.tuples(st.integers(0, 5), st.sampled_from(["j1", "j2"]), st.integers(1, 2)),
            min_size=1,
            max_size=25,
            unique=True,
        )
    )
    attempts = []
    for person, journey, number in keys:
        path = [draw(st.sampled_from(stages))]
        for _ in range(draw(st.integers(0, 6))):
            path.append(draw(st.sampled_from([s for s in stages if s != path[-1]])))
        gaps = draw(st.lists(st.integers(0, 50), min_size=len(path) - 1, max_size=len(path) - 1))
        attempts.append(
            Attempt(
                f"u{person}",
                journey,
                tuple(path),
                tuple(itertools.accumulate([draw(st.integers(0, 100)), *gaps])),
                persona_id=draw(st.sampled_from(["p1", "p2"])),
                status=draw(st.sampled_from(STATUSES)),
                attempt_number=number,
                window_seconds=draw(st.integers(0, 300)),
                as_of_seconds=draw(st.integers(0, 400)),
            )
        )
    events = draw(
        st.lists(
            st.tuples(st.integers(0, 5), st.sampled_from("EFG"), st.integers(0, 400)), max_size=30
        )
    )
    order = draw(st.permutations(range(len(events))))
    activities = [
        Activity(f"u{p}", e, t, seq) for (p, e, t), seq in zip(events, order, strict=True)
    ]
    return Marts(attempts, designed, activities)


@pytest.fixture(scope="module")
def shared_con():
    with duckdb.connect() as con:
        yield con


@settings(
    max_examples=30, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow]
)
@given(marts=stage_marts())
def test_random_logs_match_brute_force(shared_con, marts):
    con = build(marts, shared_con)
    assert_rows_equal(
        rows_by_breakdown(stage_variants(con), "n_stages"), oracle_stage_variants(marts.attempts)
    )
    assert_dfg_equal(dfg_as_dict(stage_dfg(con)), oracle_dfg(marts.attempts))
    expected = oracle_loops_and_skips(marts)
    found = {
        (r.pop("journey_id"), r.pop("persona_id"), r.pop("stage_id")): r
        for r in loops_and_skips(con).iter_rows(named=True)
    }
    assert found == expected
    everything = oracle_event_variants(marts)
    assert_rows_equal(rows_by_breakdown(event_variants(con), "n_events"), everything)
    top = {key: rows[:2] for key, rows in everything.items()}
    assert_rows_equal(rows_by_breakdown(event_variants(con, top=2), "n_events"), top)


@pytest.mark.slow
def test_demo_loops_and_skips_hold_every_planted_one_and_paths_equal_pm4py(demo_pipeline):
    """Loops and skips equal the truth exactly on persons the data shows as one person.

    A person split over several person keys (an anonymous visitor who never identified)
    shows partial paths, so only persons with ``persons_on_disk == 1`` are exactly
    comparable: the marts are restricted to their person keys, found through their contact.
    On the whole database the counts can only be larger.
    """
    truth = demo_pipeline.persons.filter(pl.col("persons_on_disk") == 1)
    paths = truth.select("persona", "stage_path", "skipped_stages").rows()
    with duckdb.connect() as con, demo_pipeline.connect() as whole:
        con.execute(
            "attach $path as demo (read_only)",
            {"path": str(demo_pipeline.home / "journeymap.duckdb")},
        )
        con.register("truth_contacts", truth.select("contact_id"))
        con.execute(
            "create table kept as select persons.person_key from demo.marts.dim_persons as persons "
            "join truth_contacts on persons.contact_id = truth_contacts.contact_id"
        )
        distinct_keys = con.execute("select count(distinct person_key) from kept").fetchall()
        assert distinct_keys == [(truth.height,)]
        con.execute("create schema marts")
        for table in ("fct_stage_visits", "fct_journeys"):
            con.execute(
                f"create view marts.{table} as select * from demo.marts.{table} "
                "where person_key in (select person_key from kept)"
            )
        con.execute(
            "create view marts.dim_journey_stages as select * from demo.marts.dim_journey_stages"
        )
        subset = loops_and_skips(con)
        for persona in ["all", *sorted(truth["persona"].unique())]:
            chosen = [p for p in paths if persona in ("all", p[0])]
            loops = Counter(s for _, path, _ in chosen for s in set(path) if path.count(s) > 1)
            skips = Counter(s for _, _, skipped in chosen for s in skipped)
            reached = Counter(s for _, path, _ in chosen for s in set(path))
            assert sum(loops.values()) > 0
            assert sum(skips.values()) > 0
            for row in subset.filter(persona_id=persona).iter_rows(named=True):
                stage = row["stage_id"]
                assert (row["reached"], row["loops"], row["skipped"]) == (
                    reached[stage],
                    loops[stage],
                    skips[stage],
                ), (persona, stage)

        everyone = loops_and_skips(whole)
        assert everyone.select("persona_id", "stage_id").equals(
            subset.select("persona_id", "stage_id")
        )
        assert (everyone["loops"] >= subset["loops"]).all()
        assert (everyone["skipped"] >= subset["skipped"]).all()
        for persona in ["all", "developer"]:
            assert_equal_to_pm4py(whole, "trial_to_paid", persona)
