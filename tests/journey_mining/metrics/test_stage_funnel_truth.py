"""Measured stage conversion on the demo against the generator's probabilities.

The generator draws, per persona, the chance to advance from each stage to the next
(``parameters.personas.<id>.advance``) and the chance to skip onboard or evaluate on the way
(``skip_probability``). The ordered funnel (FUNNELS.md) counts a skip as leaving the designed
order, so the true probability of each ordered step follows from both:

- discover -> sign_up: a1
- sign_up -> onboard: a2 (1 - a3 s_on)                 (skippers go straight to activate)
- onboard -> activate: a3 (1 - s_on) / (1 - a3 s_on)   (given onboard was visited)
- activate -> evaluate: a4 (1 - a5 s_ev)
- evaluate -> purchase: a5 (1 - s_ev) / (1 - a5 s_ev)

Only the matured entry cohorts (July and August: every window closed by the as-of time) are
compared, so no censoring bias enters; the truth must lie inside the measured rate's 99%
Wilson interval.
"""

import math

import polars as pl
import pytest

pytestmark = pytest.mark.slow

STEPS = (
    "discover->sign_up",
    "sign_up->onboard",
    "onboard->activate",
    "activate->evaluate",
    "evaluate->purchase",
)


def _true_ordered_probabilities(persona: dict) -> list[float]:
    a1, a2, a3, a4, a5 = (persona["advance"][step] for step in STEPS)
    s_on = persona["skip_probability"]["onboard"]
    s_ev = persona["skip_probability"]["evaluate"]
    return [
        a1,
        a2 * (1 - a3 * s_on),
        a3 * (1 - s_on) / (1 - a3 * s_on),
        a4 * (1 - a5 * s_ev),
        a5 * (1 - s_ev) / (1 - a5 * s_ev),
    ]


def _wilson_99(successes: int, n: int) -> tuple[float, float]:
    z = 2.5758293035489004
    p = successes / n
    centre = p + z * z / (2 * n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return (centre - half) / (1 + z * z / n), (centre + half) / (1 + z * z / n)


def test_each_personas_true_conversion_lies_in_the_measured_99_percent_interval(demo_pipeline):
    from journey_mining.metrics.stage_funnel import stage_funnel  # noqa: PLC0415

    with demo_pipeline.connect() as con:
        funnel = stage_funnel(con)
    matured = (
        funnel.filter(
            funnel["cohort"].is_in(["2026-07", "2026-08"])
            & (funnel["persona_id"] != "all")
            & funnel["converted"].is_not_null()
        )
        .group_by("persona_id", "stage_id", "step")
        .agg(pl.col("converted", "dropped", "in_progress", "conversion_n").sum())
        .sort("persona_id", "step")
    )
    personas = demo_pipeline.truth["parameters"]["personas"]
    checked = 0
    for row in matured.iter_rows(named=True):
        truth = _true_ordered_probabilities(personas[row["persona_id"]])[row["step"] - 1]
        assert row["conversion_n"] == row["converted"] + row["dropped"]
        assert row["in_progress"] == 0, "the July and August cohorts have matured"
        if row["conversion_n"] == 0:
            continue
        low, high = _wilson_99(row["converted"], row["conversion_n"])
        assert low <= truth <= high, (row["persona_id"], row["stage_id"], truth, low, high)
        checked += 1
    assert checked >= 18  # 4 personas x 5 steps, less any step nobody reached


def test_people_whose_window_is_open_are_in_progress_never_dropped(demo_pipeline):
    with demo_pipeline.connect() as con:
        rows = con.execute(
            "select status, window_closes_at > as_of_at as window_open, count(*) "
            "from marts.fct_journeys group by all"
        ).fetchall()
    counts = {(status, open_): n for status, open_, n in rows}
    assert counts.get(("dropped", True), 0) == 0
    assert counts.get(("in_progress", False), 0) == 0
    assert counts.get(("in_progress", True), 0) > 0
    persons = demo_pipeline.persons.filter(demo_pipeline.persons["persons_on_disk"] == 1)
    open_unconverted = persons.filter(
        persons["window_open_at_end"] & (persons["furthest_stage"] != "purchase")
    ).height
    assert open_unconverted <= counts[("in_progress", True)]
