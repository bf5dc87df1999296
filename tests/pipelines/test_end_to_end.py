import json
from datetime import date

import dagster as dg
import duckdb
import pytest

from journey_mining.demo import generate_demo
from pipelines.run import run_everything

RAW_TABLES = (
    "product_events",
    "crm_activities",
    "crm_contacts",
    "crm_deal_stage_changes",
    "crm_survey_responses",
)


@pytest.mark.slow
def test_demo_month_runs_through_every_asset_with_ground_truth_counts(journeymap_home):
    generate_demo(
        journeymap_home, persons=1_500, seed=3, start=date(2026, 7, 1), end=date(2026, 7, 31)
    )
    truth = json.loads((journeymap_home / "ground_truth.json").read_text())

    results = run_everything(
        journeymap_home,
        "2026-07-01",
        "2026-07-31",
        progress=lambda _: None,
        instance=dg.DagsterInstance.ephemeral(),
    )

    con = duckdb.connect(str(journeymap_home / "journeymap.duckdb"), read_only=True)
    for table in RAW_TABLES:
        expected = truth["expected"][table]
        (loaded,) = con.execute(f"select count(*) from raw.{table}").fetchone()
        assert loaded == expected["loaded"], table
        if table != "crm_contacts":
            metadata = results.metadata[f"raw/{table}"]
            assert metadata["rows_read"] == expected["rows_read"], table
            assert metadata["duplicates_dropped"] == expected["duplicates"], table
    (rejected,) = con.execute("select count(*) from raw.rejects").fetchone()
    assert rejected == truth["expected"]["rejected"]
    (activities,) = con.execute("select count(*) from marts.fct_activities").fetchone()
    assert activities >= truth["expected"]["product_events"]["loaded"]
    statuses = dict(
        con.execute("select status, count(*) from marts.fct_journeys group by all").fetchall()
    )
    assert set(statuses) <= {"converted", "dropped", "in_progress"}
    assert statuses.get("in_progress", 0) > 0
