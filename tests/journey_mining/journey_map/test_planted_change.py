"""The monthly review finds a change planted in the demo data, and nothing else.

Acceptance criterion of the journey-map issue: two monthly snapshots of demo data, with a change
planted in one stage for one persona, and the review flags exactly that change as significant.

The plant: developers who enter the journey on or after 2026-08-01 advance from activate to
evaluate with probability 0.8 instead of 0.35 (:class:`PlantedChange`). The July entry cohort
is the "before", the August cohort the "after".

The two months are delivered the way files arrive. The demo is generated once for July to
September into a separate folder; before the first run only the landing files dated up to
2026-08-31 are in the landing folder, before the second run the September files are added
(``contacts.csv``, one undated CRM export, is there in full both times: contacts nobody acted
for yet add no journey). Generating everything straight into the landing folder does not
work: the ingest of a day also stages the next three days' files for late rows, and the rows
of those later days are loaded too, so the "August" run would reach 2026-09-03 and the marts'
as-of (the newest activity) would fall in an incomplete September, with no snapshot kept.
"""

from __future__ import annotations

import dataclasses
import json
import re
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import polars as pl
import pytest

from journey_mining.demo import DEFAULT_SCENARIO, PlantedChange, generate_demo
from journey_mining.journey_map import write_outputs
from journey_mining.journey_map.snapshot import read_figures, snapshot_periods
from tests.conftest import journeymap_environment

JOURNEY = "trial_to_paid"
PERSONS = 4_000
SEED = 7
FIRST, LAST = date(2026, 7, 1), date(2026, 9, 30)
CHANGE = PlantedChange(
    persona="developer", transition="activate->evaluate", effective=date(2026, 8, 1), advance=0.8
)
# With the default dirt: late August rows reach the pipeline in September's first files, and
# the second refresh must take them in (marts.fct_activities rebuilds every person with a row
# it does not hold yet, whatever the row's timestamp).
SCENARIO = dataclasses.replace(DEFAULT_SCENARIO, changes=(CHANGE,))
SCENARIO_DEFAULT_DIRT = SCENARIO
"""The plant with the default dirt, for the generator-only tests."""
MIN_N = 30
"""The pipeline's default (``JOURNEYMAP_MIN_N``)."""
PLANTED = {("developer", "activate"), ("developer", None), ("all", "activate")}
"""(persona, stage; None: overall conversion) the strict review must flag, all up."""
CONSEQUENCES = {("all", None): 1, ("all", "evaluate"): -1}
"""Real consequences of the plant in the persona mix that a strict test may or may not call:
excluded from the significance check, their direction (the sign) is asserted."""


def _deliver(generated: Path, landing: Path, through: date) -> list[Path]:
    """Copy the landing files dated up to ``through`` (and the contacts export) into ``landing``."""
    copied = []
    for source in sorted((generated / "landing").rglob("*")):
        if not source.is_file():
            continue
        relative = source.relative_to(generated / "landing")
        target = landing / relative
        dated = relative.name != "contacts.csv"
        if dated and (date.fromisoformat(relative.name.split(".")[0]) > through or target.exists()):
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, target)
        copied.append(relative)
    return copied


@dataclass(frozen=True)
class TwoMonths:
    """The demo with the planted change, run through the pipeline for August, then September."""

    home: Path
    truth: dict[str, Any]


@pytest.fixture(scope="module")
def two_months(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TwoMonths]:
    import dagster as dg  # noqa: PLC0415 - only the tests that run the pipeline pay for it

    from pipelines.run import run_everything  # noqa: PLC0415

    root = tmp_path_factory.mktemp("planted")
    generated, home = root / "generated", root / "home"
    generate_demo(generated, persons=PERSONS, seed=SEED, start=FIRST, end=LAST, scenario=SCENARIO)
    instance = dg.DagsterInstance.ephemeral()
    with pytest.MonkeyPatch.context() as monkeypatch:
        for key, value in journeymap_environment(home).items():
            monkeypatch.setenv(key, value)
        assert _deliver(generated, home / "landing", date(2026, 8, 31))
        run_everything(home, "2026-07-01", "2026-08-31", progress=lambda _: None, instance=instance)
        assert _deliver(generated, home / "landing", date(2026, 9, 30))
        run_everything(home, "2026-09-01", "2026-09-30", progress=lambda _: None, instance=instance)
        yield TwoMonths(
            home=home,
            truth=json.loads((generated / "ground_truth.json").read_text()),
        )


def _changes(documents: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Every tested change of a period's documents, with its persona."""
    return [
        {**change, "persona": doc["persona"]["id"]}
        for doc in documents
        for change in [
            *doc["comparison"]["changes"],
            *(c for stage in doc["stages"] for c in stage["changes"]),
        ]
    ]


def _significant_lines(review: str) -> dict[str, list[str]]:
    """The "Significant changes" bullet lines of each persona section of a review."""
    found = {}
    for section in review.split("\n## ")[1:]:
        name, _, body = section.partition("\n")
        block = body.split("### Significant changes since", 1)
        if len(block) == 2:
            lines = block[1].split("\n### ", 1)[0].splitlines()[1:]
            found[name] = [line for line in lines if line.startswith("- ")]
    return found


@pytest.mark.slow
def test_review_flags_exactly_the_planted_change(two_months: TwoMonths) -> None:
    """The strict review of 2026-09 flags the developers' activate -> evaluate rise (and the
    same rise seen end to end and in the persona mix), and nothing else.

    Alpha. The review runs a two-proportion test per persona view ("all" and four personas)
    for each of the five stage conversions and the overall conversion: K = 30 tests (counted
    from the documents). At the documents' default p < 0.05 about 1.5 chance flags are
    expected per review (this run has one: IT admin, activate, p = 0.036), so the test reviews
    at the Bonferroni level alpha = 0.05 / K = 0.00167: the chance that any test without a real
    change is flagged is then at most 5%, however the tests depend on each other.

    Expected figures below are for about 470 developers entering per month; the p-values this
    run saw are in the assertion messages. Flagged, up, and asserted:

    - developer, activate -> next stage: the plant. The measured conversion is activate
      followed by an evaluate visit, 0.35 x (1 - 0.30 x 0.60 who skip evaluate) = 0.29 ->
      0.66, about 170 developers activating per month: z ~ 7.
    - developer, overall conversion: only one transition changed, so the end-to-end rate
      scales by 0.8 / 0.35, 5.3% -> 12.2%: z ~ 3.8 against the 3.14 needed (p ~ 2e-4); the
      planted change seen end to end, so it is asserted rather than excluded.
    - all personas, activate -> next stage: the mix contains the developers, half of those
      who activate; 0.41 -> 0.60, z ~ 4.9.

    Excluded from the significance check, only their direction is asserted: the all-personas
    overall conversion (up, +2.4 pts expected, z ~ 2.6: a strict test calls it about one time
    in four) and the all-personas evaluate -> next stage, which falls by composition alone
    (more developers reach evaluate, and they buy after it less often than IT admins and team
    leads; z ~ 1.3 expected). Both are real consequences of the plant, so neither "must" nor
    "must not" would be right. Every other test has no real change and must not be flagged:
    the three other personas are untouched, developers' transitions before activate are drawn
    as before, and evaluate -> purchase does not depend on how many developers arrive.
    """
    home = two_months.home
    output = home / "output" / JOURNEY
    with duckdb.connect(str(home / "journeymap.duckdb"), read_only=True) as con:
        # one snapshot per complete month, each as of its month's last day: the first run did
        # not see September
        assert snapshot_periods(con, JOURNEY) == ("2026-08", "2026-09")
        for period in ("2026-08", "2026-09"):
            kept = read_figures(con, "stage_funnel", JOURNEY, period)
            assert kept is not None
            [as_of] = kept.get_column("snapshot_as_of").unique().to_list()
            assert isinstance(as_of, datetime)
            assert as_of.strftime("%Y-%m") == period
            assert (as_of + timedelta(days=1)).month != as_of.month, as_of
        # the pipeline's own review (p < 0.05) compares the matured cohorts and lists the plant
        pipeline = json.loads((output / "2026-09" / "journey_map.json").read_text())["documents"]
        comparison = pipeline[0]["comparison"]
        assert comparison["status"] == "compared", comparison
        assert (comparison["previous_month"], comparison["cohort"]) == ("2026-08", "2026-08")
        assert comparison["previous_cohort"] == "2026-07"
        pipeline_review = (output / "2026-09" / "review.md").read_text()
        assert re.search(r"- Activate → next stage: [\d.]+% → [\d.]+% \(up", pipeline_review)

        tests = len(_changes(pipeline))
        assert tests == 30
        alpha = 0.05 / tests
        strict = home / "strict"
        write_outputs(
            con, strict, JOURNEY, "2026-09", take_snapshot=False, alpha=alpha, min_n=MIN_N
        )
    documents = json.loads((strict / JOURNEY / "2026-09" / "journey_map.json").read_text())
    changes = _changes(documents["documents"])
    seen = "\n".join(
        f"{c['persona']:>10} {c['stage_id'] or 'overall':>8}: {c['previous']['successes']}/"
        f"{c['previous']['n']} -> {c['current']['successes']}/{c['current']['n']}, "
        f"delta {c['delta']:+.3f}, p = {c['p_value']:.2g}"
        for c in changes
    )
    assert all(c["p_value"] is not None for c in changes), seen

    by_key = {(c["persona"], c["stage_id"]): c for c in changes}
    flagged = {key for key, c in by_key.items() if c["significant"]}
    assert flagged - set(CONSEQUENCES) == PLANTED, f"alpha = {alpha:.5f}; tested:\n{seen}"
    for key in PLANTED:
        assert by_key[key]["delta"] > 0, f"{key} moved against the plant:\n{seen}"
    for key, sign in CONSEQUENCES.items():
        assert by_key[key]["delta"] * sign > 0, f"{key} moved the wrong way:\n{seen}"

    # the review says the same, section by section
    review = (strict / JOURNEY / "2026-09" / "review.md").read_text()
    assert f"p < {alpha}" in review
    expected: dict[str, list[str]] = {}
    for doc in documents["documents"]:
        names = {stage["id"]: stage["name"] for stage in doc["stages"]}
        expected[doc["persona"]["name"]] = [
            "Overall conversion"
            if c["stage_id"] is None
            else f"{names[c['stage_id']]} → next stage"
            for c in _changes([doc])
            if c["significant"]
        ]
    listed = _significant_lines(review)
    assert {name: [line[2:].split(":")[0] for line in lines] for name, lines in listed.items()} == (
        expected
    ), review
    assert expected["Developer"] == ["Overall conversion", "Activate → next stage"]
    assert all("(up " in line for line in (*listed["Developer"], *listed["All personas"]))
    for persona in ("IT admin", "Team lead", "Unassigned"):
        assert listed[persona] == [], review
    assert two_months.truth["parameters"]["changes"] == [CHANGE.to_json()]


@pytest.fixture(scope="module")
def with_and_without(tmp_path_factory: pytest.TempPathFactory) -> tuple[pl.DataFrame, ...]:
    """The same demo persons generated without and with the plant (ground truth per person)."""
    truths = []
    for name, scenario in (("without", DEFAULT_SCENARIO), ("with", SCENARIO_DEFAULT_DIRT)):
        out = tmp_path_factory.mktemp(name)
        generate_demo(out, persons=3_000, seed=SEED, start=FIRST, end=LAST, scenario=scenario)
        truth = json.loads((out / "ground_truth.json").read_text())
        assert ("changes" in truth["parameters"]) == bool(scenario.changes)
        truths.append(pl.read_parquet(out / "ground_truth_persons.parquet"))
    return tuple(truths)


def test_plant_touches_only_its_persona_and_entrants(
    with_and_without: tuple[pl.DataFrame, pl.DataFrame],
) -> None:
    """Every draw is the same with or without the plant, so the stage paths of everyone else
    are identical, and a planted person only goes further (0.35 -> 0.8 raises the bar the same
    uniform draw is compared with)."""
    without, planted = with_and_without
    affected = (planted["persona"] == CHANGE.persona) & (
        planted["entered_at"].dt.date() >= CHANGE.effective
    )
    assert planted["contact_id"].equals(without["contact_id"])
    assert 0 < affected.sum() < planted.height
    assert planted.filter(~affected)["stage_path"].equals(without.filter(~affected)["stage_path"])
    pairs = pl.DataFrame(
        {
            "before": without.filter(affected)["stage_path"],
            "after": planted.filter(affected)["stage_path"],
        }
    )
    prefix = pairs.select(
        pl.col("after").list.head(pl.col("before").list.len()) == pl.col("before")
    ).to_series()
    assert prefix.all()
    went_on = pairs.filter(pl.col("before") != pl.col("after"))
    assert went_on.height > 0
    assert went_on.select(pl.col("before").list.last() == "activate").to_series().all()


def test_plant_changes_the_advance_of_its_entrants(
    with_and_without: tuple[pl.DataFrame, pl.DataFrame],
) -> None:
    """Among developers who activated, the share who went on: about 0.35 for July entrants and
    0.8 for August entrants (complete by the end of September), in the emitted data."""
    _, planted = with_and_without
    rates = (
        planted.filter(
            (pl.col("persona") == CHANGE.persona)
            & pl.col("stage_path").list.contains("activate")
            & (pl.col("entered_at") < datetime(2026, 9, 1, tzinfo=UTC))
        )
        .group_by(month=pl.col("entered_at").dt.month())
        .agg(
            n=pl.len(),
            rate=(
                pl.col("stage_path").list.contains("evaluate")
                | pl.col("stage_path").list.contains("purchase")
            ).mean(),
        )
        .sort("month")
    )
    assert rates["month"].to_list() == [7, 8]
    assert min(rates["n"].to_list()) > 100
    before, after = rates["rate"].to_list()
    assert abs(before - 0.35) < 0.1, rates
    assert abs(after - CHANGE.advance) < 0.1, rates


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (dataclasses.replace(CHANGE, persona="cfo"), "unknown persona"),
        (dataclasses.replace(CHANGE, transition="activate->purchase"), "is not one of"),
        (dataclasses.replace(CHANGE, advance=1.5), "outside"),
    ],
)
def test_a_bad_plant_is_refused(change: PlantedChange, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        dataclasses.replace(DEFAULT_SCENARIO, changes=(change,))


def test_a_plant_is_refused_twice() -> None:
    with pytest.raises(ValueError, match="planted twice"):
        dataclasses.replace(DEFAULT_SCENARIO, changes=(CHANGE, dataclasses.replace(CHANGE)))


def test_only_a_plant_reaches_the_parameters() -> None:
    assert "changes" not in DEFAULT_SCENARIO.to_json()
    assert SCENARIO.to_json()["changes"] == [
        {
            "persona": "developer",
            "transition": "activate->evaluate",
            "effective_entry_date": "2026-08-01",
            "advance": 0.8,
        }
    ]
