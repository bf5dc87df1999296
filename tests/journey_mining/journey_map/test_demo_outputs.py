"""The demo month end to end: mining tables computed from the demo's marts, then every output
of the period; nothing that identifies a person may reach any of them."""

import json
import re
import shutil
from datetime import UTC, date, datetime

import duckdb
import pytest

from journey_mining import load_journey_model
from journey_mining.journey_map.document import stage_channel_mix, stage_top_actions
from journey_mining.journey_map.exports import write_outputs
from journey_mining.journey_map.snapshot import validate_period
from journey_mining.metrics.conformance import conformance, deviations
from journey_mining.metrics.sentiment import stage_sentiment
from journey_mining.metrics.stage_funnel import stage_funnel
from journey_mining.metrics.stage_paths import loops_and_skips, stage_dfg, stage_variants
from journey_mining.metrics.timing import stage_timing
from tests.conftest import SHIPPED_MODELS
from tests.journey_mining.journey_map.conftest import store

pytestmark = pytest.mark.slow

METRICS = {
    "stage_funnel": stage_funnel,
    "stage_timing": stage_timing,
    "stage_sentiment": stage_sentiment,
    "stage_variants": stage_variants,
    "stage_dfg": stage_dfg,
    "loops_and_skips": loops_and_skips,
    "conformance": conformance,
    "deviations": deviations,
    "stage_channel_mix": stage_channel_mix,
    "stage_top_actions": stage_top_actions,
}


@pytest.fixture(scope="module")
def demo_outputs(demo_pipeline, tmp_path_factory):
    folder = tmp_path_factory.mktemp("demo_map")
    database = folder / "journeymap.duckdb"
    shutil.copyfile(demo_pipeline.home / "journeymap.duckdb", database)
    with duckdb.connect(str(database)) as con:
        for name, metric in METRICS.items():
            store(con, name, metric(con))
        [(as_of,)] = con.execute("select max(as_of_at) from marts.fct_journeys").fetchall()
        period = validate_period(as_of.strftime("%Y-%m"))
        paths = write_outputs(
            con,
            folder / "output",
            "trial_to_paid",
            period,
            snapshot_date=date(2026, 8, 1),
            model=load_journey_model(SHIPPED_MODELS / "trial_to_paid.yml"),
            generated_at=datetime(2026, 8, 1, tzinfo=UTC),
        )
    return database, paths


def _identifiers(database):
    with duckdb.connect(str(database), read_only=True) as con:
        tokens = set()
        for sql in (
            "select email from raw.crm_contacts",
            "select contact_id from raw.crm_contacts",
            "select external_id from raw.crm_contacts",
            "select user_id from raw.product_events",
            "select anonymous_id from raw.product_events",
            "select person_key from marts.dim_persons",
            "select user_id from marts.dim_persons",
        ):
            tokens |= {str(v).lower() for (v,) in con.execute(sql).fetchall() if v}
        names = {
            f"{first} {last}".lower()
            for first, last in con.execute(
                "select first_name, last_name from raw.crm_contacts "
                "where first_name is not null and last_name is not null"
            ).fetchall()
        }
    return tokens, names


def _leaks(text, tokens, names):
    text = text.lower()
    found = set(re.findall(r"[\w.@+-]+", text)) | set(re.findall(r"[\w.@+:-]+", text))
    leaks = sorted(found & tokens) + [name for name in names if name in text]
    if "@" in re.sub(r"@(media|page)\b", "", text):
        leaks.append("@")
    return leaks


def test_no_output_holds_an_email_a_name_or_a_raw_id(demo_outputs):
    database, paths = demo_outputs
    tokens, names = _identifiers(database)
    assert len(tokens) > 1000
    assert len(names) > 100
    email = next(t for t in sorted(tokens) if "@" in t)
    person = next(t for t in sorted(tokens) if t.startswith("u:"))
    name = sorted(names)[0]
    planted = f'share,0.5\n{email.upper()},{person},"{name.title()}"'
    assert len(_leaks(planted, tokens, names)) >= 3
    for key, path in paths.items():
        assert _leaks(path.read_text(encoding="utf-8"), tokens, names) == [], key


def test_the_demo_documents_validate_and_match_the_funnel(demo_outputs):
    database, paths = demo_outputs
    collection = json.loads(paths["json"].read_text())
    personas = [d["persona"]["id"] for d in collection["documents"]]
    assert personas[0] == "all"
    assert {"it_admin", "developer", "team_lead"} <= set(personas)
    everyone = collection["documents"][0]
    assert everyone["journey"]["expectations"]
    with duckdb.connect(str(database), read_only=True) as con:
        lost = dict(
            con.execute(
                "select stage_id, lost_here from mining.stage_funnel "
                "where persona_id = 'all' and cohort = 'all'"
            ).fetchall()
        )
    assert {s["id"]: s["funnel"]["lost_here"] for s in everyone["stages"]} == lost
    html = paths["html"].read_text()
    assert not re.search(r"https?://", html)
    for stage in everyone["stages"]:
        assert stage["name"] in html


def test_the_headline_counts_equal_the_journey_statuses_in_the_marts(demo_outputs):
    database, paths = demo_outputs
    collection = json.loads(paths["json"].read_text())
    with duckdb.connect(str(database), read_only=True) as con:
        statuses = con.execute(
            "select persona_id, status, count(*) from marts.fct_journeys group by all"
        ).fetchall()
    by_persona: dict[str, dict[str, int]] = {}
    for persona, status, n in statuses:
        for key in (persona, "all"):
            counts = by_persona.setdefault(key, {})
            counts[status] = counts.get(status, 0) + n
    for document in collection["documents"]:
        expected = by_persona[document["persona"]["id"]]
        summary = document["summary"]
        assert summary["converted"] == expected.get("converted", 0)
        assert summary["lost"] == expected.get("dropped", 0)
        assert summary["in_progress"] == expected.get("in_progress", 0)
        assert summary["entered"] == sum(expected.values())


@pytest.mark.browser
def test_the_demo_map_in_chromium_has_no_errors_no_network_and_switches_persona(
    demo_outputs, tmp_path
):
    from tests.journey_mining.journey_map.chromium import (  # noqa: PLC0415
        CHROMIUM,
        open_page,
        visible_text,
    )

    if CHROMIUM is None:
        pytest.skip("headless Chromium is not installed (apt-get install chromium)")
    _, paths = demo_outputs
    page = paths["html"].as_uri()

    # the instrument sees what it must: a planted error and a planted request are caught
    bad = tmp_path / "bad.html"
    bad.write_text(
        '<html><body><img src="http://example.invalid/x.png">'
        "<script>undefinedFunction()</script></body></html>"
    )
    control = open_page(bad.as_uri(), tmp_path / "control")
    assert any("undefinedFunction" in line for line in control.console)
    assert control.page_requests == ["http://example.invalid/x.png"]

    everyone = open_page(page, tmp_path / "all")
    developer = open_page(page + "#persona=developer", tmp_path / "developer")
    for run in (everyone, developer):
        assert run.console == []
        assert run.page_requests == []
        assert run.screenshot is not None
        assert run.screenshot.stat().st_size > 50_000
    collection = json.loads(paths["json"].read_text())
    entered = {d["persona"]["id"]: d["summary"]["entered"] for d in collection["documents"]}
    assert entered["all"] != entered["developer"]
    assert f"{entered['all']:,}" in visible_text(everyone.dom, "all")
    shown = visible_text(developer.dom, "developer")
    assert f"{entered['developer']:,}" in shown
    assert visible_text(developer.dom, "all") == ""  # the "all" view is hidden now
