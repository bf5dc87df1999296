import math
import tomllib
from datetime import UTC, datetime
from pathlib import Path

import jsonschema
import pytest

from journey_mining.journey_map.document import (
    build_journey_map,
    build_journey_maps,
    journey_map_collection,
    journey_map_schema,
    persona_ids,
    validate_journey_map,
)
from tests.journey_mining.journey_map.conftest import (
    JOURNEY,
    MODEL_HASH,
    STAGE_NAMES,
    STAGES,
    VIEWS,
)

STAMP = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)


def _builds(db, period="2026-02", **kwargs):
    with db.connect(read_only=True) as con:
        return build_journey_maps(con, JOURNEY, period, generated_at=STAMP, **kwargs)


def _row(con, sql, *params):
    cursor = con.execute(sql, list(params))
    names = [d[0] for d in cursor.description]
    rows = cursor.fetchall()
    assert len(rows) == 1, (sql, params, rows)
    return dict(zip(names, rows[0], strict=True))


def _z_test(x1, n1, x0, n0):
    """Two-sided pooled two-proportion z-test, by hand."""
    pooled = (x1 + x0) / (n1 + n0)
    z = (x1 / n1 - x0 / n0) / math.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n0))
    return math.erfc(abs(z) / math.sqrt(2))


def test_every_document_validates_against_the_shipped_schema(two_periods):
    docs = _builds(two_periods)
    assert [d["persona"]["id"] for d in docs] == list(VIEWS)
    for doc in docs:
        validate_journey_map(doc)
        assert doc["comparison"]["status"] == "compared"
    validate_journey_map(journey_map_collection(docs))
    for doc in _builds(two_periods, period="2026-01"):
        validate_journey_map(doc)
        assert doc["comparison"]["status"] == "no_previous_snapshot"


def test_the_schema_is_versioned_and_ships_with_the_package():
    schema = journey_map_schema()
    assert schema["$defs"]["document"]["properties"]["schema_version"]["const"] == "1.1.0"
    root = Path(__file__).resolve().parents[3]
    config = tomllib.loads((root / "pyproject.toml").read_text())
    patterns = config["tool"]["setuptools"]["package-data"]["journey_mining"]
    package = root / "journey_mining"
    shipped = {
        found.relative_to(package).as_posix()
        for pattern in patterns
        for found in package.glob(pattern)
    }
    assert "journey_map/schema/journey_map.schema.json" in shipped


def test_schema_validation_catches_missing_and_unknown_fields(map_db):
    doc = _builds(map_db)[0]
    broken = {**doc, "stages": [{**doc["stages"][0], "surprise": 1}]}
    with pytest.raises(jsonschema.ValidationError):
        validate_journey_map(broken)
    missing = {k: v for k, v in doc.items() if k != "opportunities"}
    with pytest.raises(jsonschema.ValidationError):
        validate_journey_map(missing)


def test_stage_figures_are_the_mining_tables_figures(map_db):
    docs = _builds(map_db)
    with map_db.connect(read_only=True) as con:
        for doc in docs:
            persona = doc["persona"]["id"]
            assert [s["id"] for s in doc["stages"]] == list(STAGES)
            for stage in doc["stages"]:
                row = _row(
                    con,
                    "select * from mining.stage_funnel where journey_id = ? and persona_id = ? "
                    "and cohort = 'all' and stage_id = ?",
                    JOURNEY,
                    persona,
                    stage["id"],
                )
                funnel = stage["funnel"]
                for key in ("entered", "reached", "reached_any", "converted", "dropped"):
                    assert funnel[key] == row[key]
                assert funnel["in_progress"] == row["in_progress"]
                assert funnel["lost_here"] == row["lost_here"]
                if row["conversion_n"] is None:
                    assert funnel["conversion"] is None
                else:
                    assert funnel["conversion"] == {
                        "rate": row["conversion_rate"],
                        "successes": row["converted"],
                        "n": row["conversion_n"],
                        "low": row["conversion_low"],
                        "high": row["conversion_high"],
                    }
                for metric, measure in stage["sentiment"].items():
                    found = _row(
                        con,
                        "select n, value, low, high from mining.stage_sentiment "
                        "where journey_id = ? and persona_id = ? and cohort = 'all' "
                        "and stage_id = ? and metric = ?",
                        JOURNEY,
                        persona,
                        stage["id"],
                        metric,
                    )
                    assert measure == found
                if stage["id"] == "pay":
                    assert stage["time_to_next"] is None
                    continue
                timing = _row(
                    con,
                    "select * from mining.stage_timing where journey_id = ? and persona_id = ? "
                    "and cohort = 'all' and stage_id = ?",
                    JOURNEY,
                    persona,
                    stage["id"],
                )
                for key, value in stage["time_to_next"].items():
                    assert value == timing[key], key


def test_journey_wide_figures_are_the_mining_tables_figures(map_db):
    doc = _builds(map_db, personas=["family"])[0]
    with map_db.connect(read_only=True) as con:
        variants = con.execute(
            "select rank, variant, persons, share from mining.stage_variants "
            "where journey_id = 'trip' and persona_id = 'family' order by rank"
        ).fetchall()
        edges = con.execute(
            "select source, target, transitions, persons, median_seconds from mining.stage_dfg "
            "where journey_id = 'trip' and persona_id = 'family'"
        ).fetchall()
        fitness = _row(
            con,
            "select * from mining.conformance where journey_id = 'trip' and persona_id = 'family'",
        )
        loops = con.execute(
            "select stage_id, loops, loop_rate, skipped, skip_rate from mining.loops_and_skips "
            "where journey_id = 'trip' and persona_id = 'family'"
        ).fetchall()
    assert [
        (v["rank"], v["variant"], v["persons"], v["share"]) for v in doc["paths"]["variants"]
    ] == variants
    assert sorted(tuple(e.values()) for e in doc["dfg"]) == sorted(edges)
    assert doc["conformance"]["fitness"] == fitness["fitness"]
    assert doc["conformance"]["on_designed_path"] == fitness["on_designed_path"]
    assert [
        (
            s["id"],
            *(s["loops_and_skips"][k] for k in ("loops", "loop_rate", "skipped", "skip_rate")),
        )
        for s in doc["stages"]
    ] == loops
    assert [d["persons_affected"] for d in doc["deviations"]] == [9]


def test_channel_mix_and_actions_place_each_activity_in_the_visit_it_follows(map_db):
    """p1: look at T0, book from T0+1d; p2: look at T1. Activities before the first visit or
    after the window belong to no stage; an activity at the next visit's instant is the next
    stage's."""
    doc = _builds(map_db)[0]
    look, book, pay = doc["stages"]
    assert look["channels"]["activities"] == 4
    assert {c["channel"]: c["share"] for c in look["channels"]["mix"]} == {
        "web": 0.5,
        "email": 0.25,
        "support": 0.25,
    }
    assert {c["channel"]: c["activities"] for c in book["channels"]["mix"]} == {"web": 1, "app": 1}
    assert pay["channels"] == {"activities": 0, "mix": []}
    assert [(a["event"], a["activities"]) for a in look["top_actions"]] == [
        ("Page Viewed", 2),
        ("email_clicked", 1),
        ("ticket_opened", 1),
    ]
    family = _builds(map_db, personas=["family"])[0]
    assert family["stages"][0]["channels"]["activities"] == 2


def test_qualitative_layers_owners_and_kpis_come_from_the_model(map_db):
    doc = _builds(map_db, personas=["solo"])[0]
    look, book, pay = doc["stages"]
    assert [s["name"] for s in doc["stages"]] == [STAGE_NAMES[s] for s in STAGES]
    assert look["owner"] == "Marketing"
    assert look["layers"]["emotion"] == {"score": 1, "label": "curious"}
    assert book["layers"]["pain_points"] == ["Long form"]
    kpis = {k["metric"]: k for k in look["kpis"]}
    conversion = look["funnel"]["conversion"]["rate"]
    assert kpis["conversion_to_next"]["actual"] == conversion
    assert kpis["conversion_to_next"]["status"] == ("met" if conversion >= 0.5 else "missed")
    median_seconds = look["time_to_next"]["median_hours"] * 3600
    assert kpis["median_time_to_next"]["actual"] == pytest.approx(median_seconds)
    assert kpis["median_time_to_next"]["status"] == "met"
    book_kpis = {k["metric"]: k for k in book["kpis"]}
    assert book_kpis["conversion_to_next"]["status"] == "missed"
    assert book_kpis["conversion_to_next"]["owner"] == "Product"
    # censored: attempts still open at the stage are neither lost nor in the denominator
    decided = book["funnel"]["reached_any"] - book["funnel"]["open_here"]
    assert book["funnel"]["open_here"] > 0
    assert book_kpis["drop_off_rate"]["actual"] == pytest.approx(
        book["funnel"]["lost_here"] / decided
    )
    assert book_kpis["drop_off_rate"]["n"] == decided
    assert book_kpis["ticket_rate_per_100"]["status"] == "missed"
    pay_kpis = {k["metric"]: k for k in pay["kpis"]}
    assert pay_kpis["csat_mean"]["status"] == "missed"
    assert pay_kpis["nps"]["status"] == "met"
    assert pay_kpis["nps"]["n"] == pay["sentiment"]["nps"]["n"]


def test_journey_persona_and_period_describe_the_view(map_db):
    doc = _builds(map_db, personas=["solo"])[0]
    assert doc["journey"]["name"] == "Trip booking"
    assert doc["journey"]["actor"] == "Travellers planning a holiday"
    assert doc["journey"]["model_hash"] == MODEL_HASH
    assert doc["persona"] == {
        "id": "solo",
        "name": "Solo traveller",
        "description": "Travels alone",
    }
    assert [p["id"] for p in doc["personas"]] == ["all", "solo", "family"]
    with map_db.connect(read_only=True) as con:
        assert persona_ids(con, JOURNEY, "2026-02") == ["all", "solo", "family"]
    assert doc["period"]["month"] == "2026-02"
    assert doc["period"]["source"] == "live"
    assert doc["period"]["as_of"] == "2026-02-28T23:00:00"
    assert doc["generated_at"] == STAMP.isoformat()


def test_a_cohort_view_shows_that_cohorts_figures(map_db):
    doc = _builds(map_db, personas=["solo"], cohort="2026-01")[0]
    assert doc["period"]["cohort"] == "2026-01"
    assert doc["stages"][0]["funnel"]["conversion"]["successes"] == 60
    assert doc["stages"][0]["funnel"]["conversion"]["n"] == 100


def test_opportunities_rank_by_persons_lost_times_value(map_db):
    doc = _builds(map_db, personas=["solo"], value_per_conversion={"solo": 250.0, "all": 1.0})[0]
    lost = {s["id"]: s["funnel"]["lost_here"] for s in doc["stages"]}
    ranked = [o["stage_id"] for o in doc["opportunities"]]
    assert ranked == sorted((s for s in lost if lost[s] > 0), key=lambda s: -lost[s])
    top = doc["opportunities"][0]
    assert top["value_at_stake"] == top["persons_lost"] * 250.0
    assert top["ideas"] == ["Shorter form"]
    assert top["owner"] == "Product"
    assert "conversion_to_next" in top["kpi_misses"]
    assert [o["rank"] for o in doc["opportunities"]] == [1, 2]


def test_changes_compare_matured_cohorts_with_a_hand_computed_z_test(two_periods):
    solo = _builds(two_periods, personas=["solo"])[0]
    comparison = solo["comparison"]
    assert (comparison["cohort"], comparison["previous_cohort"]) == ("2026-01", "2025-12")
    assert comparison["previous_month"] == "2026-01"
    assert comparison["previous_snapshot_date"] == "2026-02-01"
    assert comparison["model_changed"] is False
    look = solo["stages"][0]["changes"][0]
    assert (look["current"]["successes"], look["current"]["n"]) == (60, 100)
    assert (look["previous"]["successes"], look["previous"]["n"]) == (45, 100)
    assert look["delta"] == pytest.approx(0.15)
    assert look["p_value"] == pytest.approx(_z_test(60, 100, 45, 100), abs=1e-6)
    assert look["p_value"] == pytest.approx(0.0337, abs=1e-4)
    assert look["significant"] is True
    book = solo["stages"][1]["changes"][0]
    assert book["p_value"] == pytest.approx(_z_test(25, 29, 15, 40), abs=1e-6)
    assert book["p_value"] < 0.05
    assert book["significant"] is False, "n = 29 is below the minimum of 30"
    assert solo["stages"][2]["changes"] == []


def test_the_minimum_n_and_alpha_are_configurable(two_periods):
    lenient = _builds(two_periods, personas=["solo"], min_n=29)[0]
    assert lenient["stages"][1]["changes"][0]["significant"] is True
    strict = _builds(two_periods, personas=["solo"], alpha=0.01)[0]
    assert strict["stages"][0]["changes"][0]["significant"] is False


def test_a_period_without_a_newer_matured_cohort_is_not_compared(two_periods):
    with two_periods.connect() as con:
        con.execute("update mining.stage_funnel set in_progress = 1 where cohort = '2026-01'")
    doc = _builds(two_periods, personas=["solo"])[0]
    assert doc["comparison"]["status"] == "no_newer_cohort"
    assert all(s["changes"] == [] for s in doc["stages"])
    validate_journey_map(doc)


def test_a_changed_journey_model_is_flagged(two_periods):
    with two_periods.connect() as con:
        con.execute("update staging.stg_journey__models set model_hash = 'b'")
    doc = _builds(two_periods, personas=["solo"])[0]
    assert doc["comparison"]["model_changed"] is True
    assert doc["journey"]["model_hash"] == "b"


def test_a_snapshotted_period_is_read_from_its_snapshot(two_periods):
    doc = _builds(two_periods, period="2026-01", personas=["solo"])[0]
    assert doc["period"]["source"] == "snapshot"
    assert doc["period"]["snapshot_date"] == "2026-02-01"
    assert doc["comparison"]["cohort"] == "2025-12"
    assert doc["comparison"]["status"] == "no_previous_snapshot"
    cohort = _builds(two_periods, period="2026-01", personas=["solo"], cohort="2025-12")[0]
    assert cohort["stages"][0]["funnel"]["conversion"]["successes"] == 45


def test_unknown_persona_and_bad_period_are_refused(map_db):
    with map_db.connect(read_only=True) as con:
        with pytest.raises(ValueError, match="nobody"):
            build_journey_map(con, JOURNEY, "nobody", "2026-02")
        with pytest.raises(ValueError, match="YYYY-MM"):
            build_journey_map(con, JOURNEY, "all", "2026-2")
        with pytest.raises(ValueError, match="no stage funnel"):
            build_journey_map(con, "missing", "all", "2026-02")


def test_the_other_journeys_rows_never_reach_the_document(map_db):
    with map_db.connect() as con:
        con.execute("update mining.stage_funnel set entered = 999999 where journey_id = 'other'")
    doc = _builds(map_db)[0]
    assert all(s["funnel"]["entered"] != 999999 for s in doc["stages"])
