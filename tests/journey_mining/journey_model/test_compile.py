from __future__ import annotations

import json
from datetime import date, datetime
from pathlib import Path
from typing import Any

import duckdb
import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from journey_mining.journey_model import (
    MAX_CLAUSES,
    RULE_TABLE_SCHEMAS,
    JourneyModel,
    JourneyModelError,
    compile_rule_tables,
    glob_to_like,
    load_journey_model,
    load_journey_models,
)
from journey_mining.journey_model.schema import clause_count
from tests.reference.rule_eval import (
    eval_compiled,
    eval_tree,
    glob_matches,
    like_matches,
)

ROOT = Path(__file__).resolve().parents[3]
FIXTURES = ROOT / "tests" / "fixtures" / "models"
STAMP = datetime(2026, 7, 3, 10, 0, 0)
INJECTION = "x'; drop table raw.product_events; --"

NAMES = ["a", "b", "c"]
TEXTS = ["x", "y", "xy", "X", "10", "2.5", "a b", "2026-01-05", INJECTION]
ACTUALS = [*TEXTS, "XY", "abc", "7", "-3", "10.0", "1e1", "2026-01-01", "2025-12-31", ""]
numbers = st.integers(-5, 12) | st.sampled_from([2.5, 10.0, -0.5])
scalars = st.sampled_from(TEXTS) | numbers | st.booleans()
dates = st.dates(min_value=date(2025, 12, 25), max_value=date(2026, 1, 10))


def _condition(key: str) -> st.SearchStrategy[dict[str, Any]]:
    by_op: list[tuple[str, st.SearchStrategy[Any]]] = [
        ("eq", scalars | dates),
        ("in", st.lists(scalars, min_size=1, max_size=3)),
        ("not_in", st.lists(scalars, min_size=1, max_size=3)),
        ("contains", st.sampled_from(TEXTS)),
        ("icontains", st.sampled_from(TEXTS)),
        ("startswith", st.sampled_from(TEXTS)),
        ("gt", numbers | dates),
        ("gte", numbers | dates),
        ("lt", numbers | dates),
        ("lte", numbers | dates),
        ("exists", st.booleans()),
    ]
    return st.one_of(
        [
            st.builds(
                lambda name, value, op=op: {key: name, "op": op, "value": value},
                st.sampled_from(NAMES),
                values,
            )
            for op, values in by_op
        ]
    )


def _group(children: st.SearchStrategy[dict[str, Any]]) -> st.SearchStrategy[dict[str, Any]]:
    return st.builds(
        lambda kind, items: {kind: items},
        st.sampled_from(["all", "any"]),
        st.lists(children, min_size=1, max_size=3),
    )


rule_trees = _group(st.recursive(_condition("attribute"), _group, max_leaves=8))
attribute_sets = st.dictionaries(st.sampled_from(NAMES), st.sampled_from(ACTUALS) | st.none())


def _model_data(**overrides: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "version": 1,
        "id": "generated",
        "name": "Generated",
        "actor": "a",
        "scenario": "s",
        "window": "1d",
        "personas": [],
        "stages": [{"id": "only", "name": "Only", "match": [{"event": "x"}]}],
        "designed_path": ["only"],
    }
    data.update(overrides)
    return data


def _rows(frame: pl.DataFrame, **equal: Any) -> list[dict[str, Any]]:
    for column, value in equal.items():
        frame = frame.filter(pl.col(column) == value)
    return frame.to_dicts()


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(tree=rule_trees, people=st.lists(attribute_sets, min_size=1, max_size=8))
def test_persona_dnf_agrees_with_the_rule_tree(
    tree: dict[str, Any], people: list[dict[str, str | None]]
) -> None:
    persona = {"id": "p", "name": "P", "description": "d", "match": tree}
    data = _model_data(personas=[persona])
    if clause_count(tree) > MAX_CLAUSES:
        with pytest.raises(ValueError, match="disjunctive normal form"):
            JourneyModel.model_validate(data)
        return
    tables = compile_rule_tables([JourneyModel.model_validate(data)], loaded_at=STAMP)
    clauses = _rows(tables["journey_persona_rules"], persona_id="p")
    conditions = _rows(tables["journey_rule_conditions"], rule_kind="persona", owner_id="p")
    assert len(clauses) == clause_count(tree)
    for attrs in people:
        assert eval_compiled(clauses, conditions, attrs) == eval_tree(tree, attrs), attrs


EVENT_CHARS = st.sampled_from(list("ab_%\\*? "))
event_names = st.text(EVENT_CHARS.filter(lambda c: c not in "*?"), max_size=5)
event_globs = st.text(EVENT_CHARS, min_size=1, max_size=5)
matchers = st.builds(
    lambda event, where: {"event": event, "where": where},
    event_globs,
    st.lists(_condition("property"), max_size=3),
)


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(
    stage_matchers=st.lists(matchers, min_size=1, max_size=3),
    activities=st.lists(st.tuples(event_names, attribute_sets), min_size=1, max_size=8),
)
def test_stage_rules_agree_with_the_matchers(
    stage_matchers: list[dict[str, Any]], activities: list[tuple[str, dict[str, str | None]]]
) -> None:
    data = _model_data(
        stages=[{"id": "s", "name": "S", "match": stage_matchers}], designed_path=["s"]
    )
    tables = compile_rule_tables([JourneyModel.model_validate(data)], loaded_at=STAMP)
    clauses = _rows(tables["journey_stage_rules"], stage_id="s")
    conditions = _rows(tables["journey_rule_conditions"], rule_kind="stage", owner_id="s")
    for event, props in activities:
        expected = any(
            glob_matches(m["event"], event) and all(eval_tree(c, props) for c in m["where"])
            for m in stage_matchers
        )
        entered = [c for c in clauses if like_matches(c["event_like"], event)]
        assert all(c["activity_source"] == "product" for c in clauses)
        assert eval_compiled(entered, conditions, props) == expected, (event, props)


@pytest.mark.parametrize(
    ("glob", "like"),
    [
        ("Signed Up", "Signed Up"),
        ("Page *", "Page %"),
        ("Report_?", "Report\\__"),
        ("100%", "100\\%"),
        ("a\\b", "a\\\\b"),
    ],
)
def test_glob_to_like_escapes_like_wildcards(glob: str, like: str) -> None:
    assert glob_to_like(glob) == like


def test_tables_have_exactly_the_contract_columns_and_dtypes() -> None:
    tables = compile_rule_tables(load_journey_models(FIXTURES / "valid"), loaded_at=STAMP)
    assert set(tables) == {
        "journey_models",
        "journey_stages",
        "journey_personas",
        "journey_stage_rules",
        "journey_persona_rules",
        "journey_rule_conditions",
    }
    for name, frame in tables.items():
        assert frame.schema == pl.Schema(RULE_TABLE_SCHEMAS[name]), name
        assert frame.height > 0


def test_tables_load_into_duckdb_with_sql_types() -> None:
    tables = compile_rule_tables(load_journey_models(FIXTURES / "valid"), loaded_at=STAMP)
    expected = {
        "journey_models": {
            "window_seconds": "BIGINT",
            "loaded_at": "TIMESTAMP",
            "designed_path": "VARCHAR",
        },
        "journey_stages": {"stage_order": "INTEGER", "layers": "VARCHAR", "kpis": "VARCHAR"},
        "journey_personas": {"persona_order": "INTEGER"},
        "journey_stage_rules": {
            "clause_id": "INTEGER",
            "is_glob": "BOOLEAN",
            "n_conditions": "INTEGER",
        },
        "journey_persona_rules": {"clause_id": "INTEGER", "n_conditions": "INTEGER"},
        "journey_rule_conditions": {
            "value_text": "VARCHAR",
            "value_number": "DOUBLE",
            "is_list": "BOOLEAN",
        },
    }
    con = duckdb.connect()
    con.execute("create schema raw").fetchall()
    for name, frame in tables.items():
        con.register(f"{name}_frame", frame)
        con.execute(f"create table raw.{name} as select * from {name}_frame").fetchall()
        described = {row[0]: row[1] for row in con.execute(f"describe raw.{name}").fetchall()}
        assert list(described) == list(RULE_TABLE_SCHEMAS[name])
        for column, sql_type in expected[name].items():
            assert described[column] == sql_type, (name, column)
        assert con.execute(f"select count(*) from raw.{name}").fetchall() == [(frame.height,)]
    [(path,)] = con.execute(
        "select designed_path from raw.journey_models where journey_id = ?", ["every_operator"]
    ).fetchall()
    assert json.loads(path) == ["browse", "buy"]


def test_injection_attempt_stays_data() -> None:
    model = load_journey_model(FIXTURES / "valid" / "every_operator.yml")
    tables = compile_rule_tables([model], loaded_at=STAMP)
    con = duckdb.connect()
    con.execute("create schema raw").fetchall()
    con.execute("create table raw.product_events as select 1 as event_id").fetchall()
    con.register("conditions", tables["journey_rule_conditions"])
    con.execute("create table raw.journey_rule_conditions as select * from conditions").fetchall()
    rows = con.execute(
        "select distinct value_text from raw.journey_rule_conditions where property = 'plan' and op = 'not_in'"
    ).fetchall()
    assert sorted(rows) == [("free",), (INJECTION,)]
    assert con.execute("select count(*) from raw.product_events").fetchall() == [(1,)]


def test_value_rows_follow_the_contract() -> None:
    model = load_journey_model(FIXTURES / "valid" / "every_operator.yml")
    conditions = compile_rule_tables([model], loaded_at=STAMP)["journey_rule_conditions"]

    def values(owner: str, prop: str) -> list[tuple[str, float | None, bool]]:
        rows = _rows(conditions, owner_id=owner, property=prop)
        return [(row["value_text"], row["value_number"], row["is_list"]) for row in rows]

    assert values("buy", "amount") == [("1", 1.0, True), ("2.5", 2.5, True), ("3", None, True)]
    assert values("flags", "sso") == [("true", None, False)]
    assert values("flags", "beta") == [("false", None, False)]
    assert values("flags", "seen_at") == [("2026-07-03T10:00:00", None, False)]
    assert values("nested", "signed_up_at")[0] == ("2026-01-01", None, False)
    assert values("browse", "title") == [("100%_off", None, False)]


def test_stages_and_models_rows_carry_the_model() -> None:
    model = load_journey_model(FIXTURES / "valid" / "every_operator.yml")
    tables = compile_rule_tables([model], loaded_at=STAMP)
    [journey] = tables["journey_models"].to_dicts()
    assert journey["window_seconds"] == 14 * 86_400
    assert journey["source_file"] == str(model.source_path)
    assert journey["model_hash"] == model.model_hash
    assert journey["loaded_at"] == STAMP
    browse = _rows(tables["journey_stages"], stage_id="browse")[0]
    assert browse["stage_order"] == 1
    assert json.loads(browse["layers"])["emotion"] == {"score": 0, "label": "neutral"}
    kpis = {kpi["metric"]: kpi for kpi in json.loads(browse["kpis"])}
    assert kpis["median_time_to_next"]["target"] == "1d12h"
    assert kpis["median_time_to_next"]["target_value"] == 129_600
    rules = _rows(tables["journey_stage_rules"], stage_id="browse")
    assert [(r["activity_source"], r["event_pattern"], r["is_glob"]) for r in rules] == [
        ("product", "Page *", True),
        ("product", "Report_?", True),
        ("crm", "email_*", True),
    ]


def test_compile_refuses_two_models_with_one_id() -> None:
    model = load_journey_model(FIXTURES / "valid" / "minimal.yml")
    with pytest.raises(JourneyModelError, match="used twice"):
        compile_rule_tables([model, model])


def test_compile_of_no_models_gives_empty_typed_tables() -> None:
    tables = compile_rule_tables([])
    for name, frame in tables.items():
        assert frame.height == 0
        assert frame.schema == pl.Schema(RULE_TABLE_SCHEMAS[name])
