import re
from datetime import UTC, datetime

import pytest

from journey_mining.journey_map.document import build_journey_maps
from journey_mining.journey_map.review import render_review
from tests.journey_mining.journey_map.conftest import JOURNEY


def _documents(db, **kwargs):
    with db.connect(read_only=True) as con:
        return build_journey_maps(
            con, JOURNEY, "2026-02", generated_at=datetime(2026, 3, 1, tzinfo=UTC), **kwargs
        )


def _section(review: str, persona: str) -> str:
    match = re.search(rf"^## {re.escape(persona)}\n(.*?)(?=^## |\Z)", review, re.S | re.M)
    assert match, persona
    return match.group(1)


def test_each_persona_lists_the_stages_losing_the_most_people(two_periods):
    documents = _documents(two_periods)
    review = render_review(documents)
    assert review.startswith("# Journey review: Trip booking, 2026-02\n")
    for doc in documents:
        section = _section(review, doc["persona"]["name"])
        lost = sorted(
            (s for s in doc["stages"] if s["funnel"]["lost_here"]),
            key=lambda s: -s["funnel"]["lost_here"],
        )
        listed = re.findall(r"^\d\. \*\*(.+?)\*\*", section, re.M)
        assert listed == [s["name"] for s in lost[:3]]
        top = lost[0]["funnel"]
        decided = top["reached_any"] - top["open_here"]
        assert f"{top['lost_here']:,} lost of {decided:,} who reached it" in section


def test_only_significant_changes_are_listed(two_periods):
    review = render_review(_documents(two_periods))
    solo = _section(review, "Solo traveller")
    assert "- Look around → next stage: 45.0% → 60.0% (up 15.0 pts; p = 0.034" in solo
    assert "Book a trip → next stage" not in solo
    assert "cohorts: 2026-01 (this period) against 2025-12" in review
    lenient = _section(render_review(_documents(two_periods), min_n=29), "Solo traveller")
    assert "Book a trip → next stage: 37.5% → 86.2%" in lenient
    family = _section(review, "Family")
    assert "### Significant changes since 2026-01\n\nNone." in family


def test_without_a_previous_snapshot_nothing_is_compared(map_db):
    review = render_review(_documents(map_db))
    assert "No changes are compared: there is no earlier snapshot." in review
    assert "Not compared (see above)." in review


def test_kpi_misses_name_their_owner(map_db):
    documents = _documents(map_db, personas=["family"])
    review = render_review(documents)
    misses = [
        (s["name"], k["owner"], k["metric"])
        for s in documents[0]["stages"]
        for k in s["kpis"]
        if k["status"] == "missed"
    ]
    assert misses
    for stage, owner, _ in misses:
        assert re.search(rf"^\| {re.escape(stage)} \| {re.escape(owner)} \| ", review, re.M)
    assert "| Book a trip | Product | conversion to next stage | ≥ 99.0% |" in review


def test_opportunities_rank_by_persons_lost_times_the_personas_value(map_db):
    documents = _documents(map_db)
    plain = render_review(documents, value_per_conversion=1.0)
    weighted = render_review(documents, value_per_conversion={"family": 10.0, "all": 1.0})

    def ranking(review):
        block = review.split("## Opportunities across personas")[1].split("\n## ")[0]
        return re.findall(r"^\| \d+ \| (\w[\w ]*?) \| ([\w ]+?) \|", block, re.M)

    assert ranking(plain)[0] == ("Family", "Book a trip")
    assert ranking(weighted)[:2] == [("Family", "Book a trip"), ("Family", "Look around")]
    family = next(d for d in documents if d["persona"]["id"] == "family")
    lost = family["stages"][1]["funnel"]["lost_here"]
    assert f"| 1 | Family | Book a trip | Product | {lost} | {10 * lost} |" in weighted


def test_a_review_covers_one_journey_and_period(map_db, two_periods):
    with two_periods.connect(read_only=True) as con:
        older = build_journey_maps(con, JOURNEY, "2026-01", personas=["all"])
    with pytest.raises(ValueError, match="one journey and period"):
        render_review([*_documents(map_db, personas=["all"]), *older])
