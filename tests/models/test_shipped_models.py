"""Every file in models/ is valid and complete; the demo model says what data_contracts.md says."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import polars as pl
import pytest

from journey_mining.journey_model import (
    compile_rule_tables,
    load_journey_model,
    validate_paths,
)
from tests.reference.rule_eval import eval_compiled, like_matches

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = sorted([*ROOT.glob("models/*.yml"), *ROOT.glob("models/*.yaml")])


def test_models_folder_is_not_empty() -> None:
    assert SHIPPED


@pytest.mark.parametrize("path", SHIPPED, ids=lambda path: path.name)
def test_shipped_model_validates(path: Path) -> None:
    assert validate_paths([path]) == []


@pytest.mark.parametrize("path", SHIPPED, ids=lambda path: path.name)
def test_shipped_model_fills_every_layer(path: Path) -> None:
    model = load_journey_model(path)
    assert model.expectations
    assert model.owners
    assert set(model.designed_path) <= set(model.stage_ids)
    for stage in model.stages:
        layers = stage.layers
        assert layers.actions, stage.id
        assert layers.thoughts, stage.id
        assert layers.emotion is not None, stage.id
        assert layers.pain_points, stage.id
        assert layers.opportunities, stage.id
        assert stage.owner, stage.id
        assert stage.kpis, stage.id


@pytest.mark.parametrize("path", SHIPPED, ids=lambda path: path.name)
def test_shipped_model_compiles(path: Path) -> None:
    tables = compile_rule_tables([load_journey_model(path)])
    assert tables["journey_stages"].height == len(load_journey_model(path).stages)


DEMO = ROOT / "models" / "trial_to_paid.yml"


@pytest.fixture(scope="module")
def demo_tables() -> dict[str, pl.DataFrame]:
    return compile_rule_tables([load_journey_model(DEMO)])


def test_demo_model_shape_matches_the_contract() -> None:
    model = load_journey_model(DEMO)
    expected_stages = ("discover", "sign_up", "onboard", "activate", "evaluate", "purchase")
    assert model.id == "trial_to_paid"
    assert model.stage_ids == expected_stages
    assert model.designed_path == expected_stages
    assert model.persona_ids == ("it_admin", "developer", "team_lead")
    assert model.window_seconds == 30 * 86_400


def _stages_entered(
    tables: dict[str, pl.DataFrame], source: str, event: str, props: dict[str, str | None]
) -> list[str]:
    rules = tables["journey_stage_rules"]
    conditions = tables["journey_rule_conditions"].filter(pl.col("rule_kind") == "stage")
    entered = []
    for stage_id in rules["stage_id"].unique(maintain_order=True):
        clauses = [
            row
            for row in rules.filter(pl.col("stage_id") == stage_id).to_dicts()
            if row["activity_source"] == source and like_matches(row["event_like"], event)
        ]
        rows = conditions.filter(pl.col("owner_id") == stage_id).to_dicts()
        if eval_compiled(clauses, rows, props):
            entered.append(stage_id)
    return entered


ACTIVITIES: list[tuple[str, str, dict[str, Any], list[str]]] = [
    ("product", "Page Viewed", {"name": "Home"}, ["discover"]),
    ("product", "Page Viewed", {"name": "Features"}, ["discover"]),
    ("product", "Page Viewed", {"name": "Blog"}, ["discover"]),
    ("crm", "email_clicked", {}, ["discover"]),
    ("product", "Signed Up", {"plan": "trial"}, ["sign_up"]),
    ("product", "Onboarding Completed", {}, ["onboard"]),
    ("product", "Project Created", {}, ["onboard"]),
    ("product", "Teammate Invited", {}, ["activate"]),
    ("product", "Report Shared", {"recipients": "1"}, ["activate"]),
    ("product", "Report Shared", {"recipients": "4"}, ["activate"]),
    ("product", "Page Viewed", {"name": "Pricing"}, ["evaluate"]),
    ("crm", "demo", {}, ["evaluate"]),
    ("crm", "meeting", {}, ["evaluate"]),
    ("crm", "call", {}, ["evaluate"]),
    ("product", "Subscription Started", {"plan": "team"}, ["purchase"]),
    ("crm", "deal_stage_changed", {"deal_stage": "closedwon", "amount": "1200"}, ["purchase"]),
    ("product", "Dashboard Viewed", {}, []),
    ("product", "Help Article Viewed", {}, []),
    ("product", "Settings Updated", {}, []),
    ("product", "Page Viewed", {"name": "Docs"}, []),
    ("product", "Report Shared", {"recipients": "0"}, []),
    ("product", "Subscription Started", {"plan": "free"}, []),
    ("crm", "deal_stage_changed", {"deal_stage": "qualifiedtobuy"}, []),
    ("crm", "email_opened", {}, []),
    ("product", "email_clicked", {}, []),
    ("product", "test_event", {}, []),
    ("product", "btn_clk_v2", {}, []),
]


@pytest.mark.parametrize(("source", "event", "props", "stages"), ACTIVITIES)
def test_demo_activities_enter_the_contract_stage(
    demo_tables: dict[str, pl.DataFrame],
    source: str,
    event: str,
    props: dict[str, str | None],
    stages: list[str],
) -> None:
    assert _stages_entered(demo_tables, source, event, props) == stages


PEOPLE: list[tuple[dict[str, str | None], str]] = [
    ({"role": "IT Admin"}, "it_admin"),
    ({"role": "IT Manager", "company_size": "500"}, "it_admin"),
    ({"role": "Systems Administrator"}, "it_admin"),
    ({"role": "Senior Software Engineer"}, "developer"),
    ({"role": "Developer Advocate"}, "developer"),
    ({"role": "Team Lead", "company_size": "50"}, "team_lead"),
    ({"role": "Director", "company_size": "1200"}, "team_lead"),
    ({"role": "Head of Operations", "company_size": "49"}, "unassigned"),
    ({"role": "Director"}, "unassigned"),
    ({"role": "CFO", "company_size": "300"}, "unassigned"),
    ({}, "unassigned"),
]


@pytest.mark.parametrize(("attrs", "persona"), PEOPLE)
def test_demo_persons_get_the_contract_persona(
    demo_tables: dict[str, pl.DataFrame], attrs: dict[str, str | None], persona: str
) -> None:
    personas = demo_tables["journey_personas"].sort("persona_order")["persona_id"].to_list()
    rules = demo_tables["journey_persona_rules"]
    conditions = demo_tables["journey_rule_conditions"].filter(pl.col("rule_kind") == "persona")
    assigned = next(
        (
            persona_id
            for persona_id in personas
            if eval_compiled(
                rules.filter(pl.col("persona_id") == persona_id).to_dicts(),
                conditions.filter(pl.col("owner_id") == persona_id).to_dicts(),
                attrs,
            )
        ),
        "unassigned",
    )
    assert assigned == persona
