"""Compile journey models to the ``raw.journey_*`` rule tables (docs/data_contracts.md, section 3).

Rules become rows in disjunctive normal form: an owner (stage or persona) matches when any of
its clauses matches, and a clause matches when all of its conditions hold. Every literal is a
value in a column, so dbt joins rules to activities and no SQL text is ever built from YAML.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime

import polars as pl

from journey_mining.journey_model.errors import JourneyModelError
from journey_mining.journey_model.schema import (
    LIST_OPERATORS,
    MAX_CLAUSES,
    AllOf,
    AnyOf,
    Condition,
    ConditionValue,
    JourneyModel,
    PropertyCondition,
    RuleNode,
    clause_count,
)

__all__ = ["RULE_TABLE_SCHEMAS", "compile_rule_tables", "glob_to_like", "persona_clauses"]

_TEXT = pl.String()
_ORDER = pl.Int32()

RULE_TABLE_SCHEMAS: dict[str, dict[str, pl.DataType]] = {
    "journey_models": {
        "journey_id": _TEXT,
        "name": _TEXT,
        "actor": _TEXT,
        "scenario": _TEXT,
        "window_seconds": pl.Int64(),
        "designed_path": _TEXT,
        "source_file": _TEXT,
        "model_hash": _TEXT,
        "loaded_at": pl.Datetime("us"),
    },
    "journey_stages": {
        "journey_id": _TEXT,
        "stage_id": _TEXT,
        "stage_order": _ORDER,
        "name": _TEXT,
        "owner": _TEXT,
        "layers": _TEXT,
        "kpis": _TEXT,
    },
    "journey_personas": {
        "journey_id": _TEXT,
        "persona_id": _TEXT,
        "persona_order": _ORDER,
        "name": _TEXT,
        "description": _TEXT,
    },
    "journey_stage_rules": {
        "journey_id": _TEXT,
        "stage_id": _TEXT,
        "clause_id": _ORDER,
        "activity_source": _TEXT,
        "event_pattern": _TEXT,
        "event_like": _TEXT,
        "is_glob": pl.Boolean(),
        "n_conditions": _ORDER,
    },
    "journey_persona_rules": {
        "journey_id": _TEXT,
        "persona_id": _TEXT,
        "persona_order": _ORDER,
        "clause_id": _ORDER,
        "n_conditions": _ORDER,
    },
    "journey_rule_conditions": {
        "journey_id": _TEXT,
        "rule_kind": _TEXT,
        "owner_id": _TEXT,
        "clause_id": _ORDER,
        "condition_id": _ORDER,
        "property": _TEXT,
        "op": _TEXT,
        "value_text": _TEXT,
        "value_number": pl.Float64(),
        "is_list": pl.Boolean(),
    },
}
"""Column names and Polars dtypes of each rule table, in column order."""


def glob_to_like(pattern: str) -> str:
    r"""Turn an event glob (``*``, ``?``) into a SQL LIKE pattern with escape character ``\``.

    ``%``, ``_`` and ``\`` in event names are escaped first, so they match only themselves.

    Examples
    --------
    >>> glob_to_like("Report_*")
    'Report\\_%'
    """
    escaped = pattern.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return escaped.replace("*", "%").replace("?", "_")


def persona_clauses(node: RuleNode) -> list[tuple[Condition, ...]]:
    """Expand a persona rule tree into DNF clauses, each a tuple of conditions that must all hold.

    Raises
    ------
    ValueError
        When the expansion would exceed ``MAX_CLAUSES`` clauses.
    """
    total = clause_count(node)
    if total > MAX_CLAUSES:
        msg = f"the rule expands to {total} clauses, more than {MAX_CLAUSES}"
        raise ValueError(msg)
    return _expand(node)


def _expand(node: RuleNode) -> list[tuple[Condition, ...]]:
    if isinstance(node, Condition):
        return [(node,)]
    if isinstance(node, AnyOf):
        return [clause for item in node.any for clause in _expand(item)]
    clauses: list[tuple[Condition, ...]] = [()]
    assert isinstance(node, AllOf)
    for item in node.all:
        clauses = [left + right for left in clauses for right in _expand(item)]
    return clauses


def _number_text(number: float) -> str:
    if isinstance(number, int):
        return str(number)
    return str(int(number)) if number.is_integer() and abs(number) < 1e15 else repr(number)


def _value_rows(value: ConditionValue) -> list[tuple[str, float | None]]:
    rows: list[tuple[str, float | None]] = []
    for item in value if isinstance(value, tuple) else (value,):
        if isinstance(item, bool):
            rows.append(("true" if item else "false", None))
        elif isinstance(item, int | float):
            rows.append((_number_text(item), float(item)))
        else:
            rows.append((item, None))
    return rows


def _condition_rows(
    journey_id: str,
    rule_kind: str,
    owner_id: str,
    clause_id: int,
    conditions: Sequence[Condition | PropertyCondition],
) -> list[tuple[object, ...]]:
    rows: list[tuple[object, ...]] = []
    for condition_id, condition in enumerate(conditions, start=1):
        is_list = condition.op in LIST_OPERATORS
        for text, number in _value_rows(condition.value):
            rows.append(
                (
                    journey_id,
                    rule_kind,
                    owner_id,
                    clause_id,
                    condition_id,
                    condition.name,
                    condition.op,
                    text,
                    number,
                    is_list,
                )
            )
    return rows


def _frame(table: str, rows: list[tuple[object, ...]]) -> pl.DataFrame:
    return pl.DataFrame(rows, schema=RULE_TABLE_SCHEMAS[table], orient="row")


def compile_rule_tables(
    models: Sequence[JourneyModel], *, loaded_at: datetime | None = None
) -> dict[str, pl.DataFrame]:
    """Compile journey models to the rows of the ``raw.journey_*`` rule tables.

    dbt matches activities to stages and persons to personas by joining these rows, so the
    journey models stay data end to end and cannot inject SQL.

    Parameters
    ----------
    models
        Validated models with unique ids, e.g. from ``load_journey_models``.
    loaded_at
        The ``loaded_at`` stamp (naive UTC); defaults to now.

    Returns
    -------
    dict[str, polars.DataFrame]
        Table name (without schema) to frame, columns and dtypes as in ``RULE_TABLE_SCHEMAS``.

    Raises
    ------
    JourneyModelError
        When two models share an id or a persona rule is too large to expand.

    Examples
    --------
    >>> tables = compile_rule_tables([load_journey_model("models/trial_to_paid.yml")])
    >>> tables["journey_stages"].height
    6
    """
    stamp = loaded_at or datetime.now(UTC).replace(tzinfo=None)
    errors: list[str] = []
    seen: set[str] = set()
    rows: dict[str, list[tuple[object, ...]]] = {table: [] for table in RULE_TABLE_SCHEMAS}
    for model in models:
        source = str(model.source_path) if model.source_path is not None else None
        if model.id in seen:
            errors.append(f"{source or '<memory>'}:1: id: journey id {model.id!r} is used twice")
            continue
        seen.add(model.id)
        rows["journey_models"].append(
            (
                model.id,
                model.name,
                model.actor,
                model.scenario,
                model.window_seconds,
                json.dumps(list(model.designed_path)),
                source,
                model.model_hash,
                stamp,
            )
        )
        for order, stage in enumerate(model.stages, start=1):
            kpis = [
                {"metric": k.metric, "op": k.op, "target": k.target, "target_value": k.target_value}
                for k in stage.kpis
            ]
            rows["journey_stages"].append(
                (
                    model.id,
                    stage.id,
                    order,
                    stage.name,
                    stage.owner,
                    json.dumps(stage.layers.model_dump(mode="json"), ensure_ascii=False),
                    json.dumps(kpis, ensure_ascii=False),
                )
            )
            for clause_id, matcher in enumerate(stage.match, start=1):
                pattern = matcher.pattern
                rows["journey_stage_rules"].append(
                    (
                        model.id,
                        stage.id,
                        clause_id,
                        matcher.activity_source,
                        pattern,
                        glob_to_like(pattern),
                        "*" in pattern or "?" in pattern,
                        len(matcher.where),
                    )
                )
                rows["journey_rule_conditions"] += _condition_rows(
                    model.id, "stage", stage.id, clause_id, matcher.where
                )
        for order, persona in enumerate(model.personas, start=1):
            rows["journey_personas"].append(
                (model.id, persona.id, order, persona.name, persona.description)
            )
            try:
                clauses = persona_clauses(persona.match)
            except ValueError as exc:
                errors.append(f"{source or '<memory>'}:1: personas[{order - 1}].match: {exc}")
                continue
            for clause_id, clause in enumerate(clauses, start=1):
                rows["journey_persona_rules"].append(
                    (model.id, persona.id, order, clause_id, len(clause))
                )
                rows["journey_rule_conditions"] += _condition_rows(
                    model.id, "persona", persona.id, clause_id, clause
                )
    if errors:
        raise JourneyModelError(errors)
    return {table: _frame(table, table_rows) for table, table_rows in rows.items()}
