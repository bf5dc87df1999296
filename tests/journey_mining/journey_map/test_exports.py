import json
from datetime import UTC, date, datetime

import polars as pl
import pytest

from journey_mining.journey_map.document import validate_journey_map
from journey_mining.journey_map.exports import PERSON_COLUMNS, export_csv, write_outputs
from tests.journey_mining.journey_map.conftest import JOURNEY, VIEWS

STAMP = datetime(2026, 3, 1, tzinfo=UTC)


def test_csv_exports_hold_the_journeys_mining_rows(map_db, tmp_path):
    with map_db.connect(read_only=True) as con:
        paths = export_csv(con, tmp_path / "csv", JOURNEY, "2026-02")
        funnel = con.sql(
            "select * from mining.stage_funnel where journey_id = 'trip' "
            "order by persona_id, cohort, step"
        ).pl()
    assert {"stage_funnel", "stage_timing", "stage_sentiment", "stage_variants"} <= set(paths)
    assert {"stage_dfg", "conformance", "deviations", "kpis", "opportunities", "changes"} <= set(
        paths
    )
    exported = pl.read_csv(paths["stage_funnel"]).sort("persona_id", "cohort", "step")
    assert exported.height == funnel.height
    for column in ("entered", "converted", "lost_here", "conversion_rate"):
        assert exported.get_column(column).to_list() == pytest.approx(
            funnel.get_column(column).to_list(), nan_ok=True
        )
    assert set(pl.read_csv(paths["stage_dfg"]).get_column("journey_id")) == {"trip"}
    kpis = pl.read_csv(paths["kpis"])
    assert set(kpis.get_column("persona_id")) == set(VIEWS)


def test_csv_exports_never_carry_a_person_column(map_db, tmp_path):
    with map_db.connect() as con:
        con.execute("alter table mining.stage_funnel add column person_key varchar")
        con.execute("alter table mining.stage_funnel add column email varchar")
        con.execute("update mining.stage_funnel set person_key = 'u:p1', email = 'a@b.example'")
        paths = export_csv(con, tmp_path / "csv", JOURNEY, "2026-02")
    for path in paths.values():
        header = path.read_text().splitlines()[0].split(",") if path.stat().st_size else []
        assert not PERSON_COLUMNS & {h.lower() for h in header}, path.name
    assert "a@b.example" not in paths["stage_funnel"].read_text()


def test_write_outputs_writes_every_file_of_the_period(two_periods, tmp_path):
    with two_periods.connect() as con:
        paths = write_outputs(
            con,
            tmp_path / "out",
            JOURNEY,
            "2026-02",
            snapshot_date=date(2026, 3, 1),
            generated_at=STAMP,
        )
        periods = [
            r[0]
            for r in con.execute(
                "select distinct snapshot_period from mining.stage_funnel_snapshots order by 1"
            ).fetchall()
        ]
    folder = tmp_path / "out" / JOURNEY / "2026-02"
    assert paths["json"] == folder / "journey_map.json"
    assert paths["html"] == folder / "journey_map.html"
    assert paths["review"] == folder / "review.md"
    assert paths["csv/stage_funnel"] == folder / "csv" / "stage_funnel.csv"
    assert periods == ["2026-01", "2026-02"]
    collection = json.loads(paths["json"].read_text())
    validate_journey_map(collection)
    assert [d["persona"]["id"] for d in collection["documents"]] == list(VIEWS)
    assert {d["period"]["source"] for d in collection["documents"]} == {"snapshot"}
    for document in collection["documents"]:
        validate_journey_map(document)
    html = paths["html"].read_text()
    assert 'data-period="2026-01"' in html
    assert 'data-period="2026-02"' in html
    assert "## Solo traveller" in paths["review"].read_text()


def test_write_outputs_keeps_a_written_period(two_periods, tmp_path):
    with two_periods.connect() as con:
        write_outputs(con, tmp_path / "a", JOURNEY, "2026-02", snapshot_date=date(2026, 3, 1))
        con.execute("update mining.stage_funnel set entered = entered + 500")
        again = write_outputs(con, tmp_path / "b", JOURNEY, "2026-02")
    first = json.loads((tmp_path / "a" / JOURNEY / "2026-02" / "journey_map.json").read_text())
    second = json.loads(again["json"].read_text())
    assert first["documents"][0]["summary"] == second["documents"][0]["summary"]
