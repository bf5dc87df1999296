"""Brute-force evaluation of journey model rules, written from docs/data_contracts.md section 3.

Two evaluators that must agree: one reads the rule tree as written in YAML (nested all/any,
values as YAML gives them), the other reads only the compiled rows of the rule tables, the way
dbt does. Attribute and property values are text or missing, as after JSON extraction in SQL.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from datetime import date, datetime
from fnmatch import fnmatchcase
from typing import Any

Attrs = Mapping[str, str | None]


def _number(text: str | None) -> float | None:
    if text is None:
        return None
    try:
        return float(text)
    except ValueError:
        return None


def _yaml_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _yaml_equal(expected: Any, actual: str) -> bool:
    is_number = isinstance(expected, int | float) and not isinstance(expected, bool)
    if is_number and _number(actual) is not None:
        return _number(actual) == float(expected)
    return actual == _yaml_text(expected)


def _compare(op: str, left: Any, right: Any) -> bool:
    return {
        "gt": left > right,
        "gte": left >= right,
        "lt": left < right,
        "lte": left <= right,
    }[op]


def condition_holds(op: str, expected: Any, actual: str | None) -> bool:
    """Evaluate one condition as written in YAML against one attribute value."""
    if op == "exists":
        return (actual is not None) == expected
    if actual is None:
        return op == "not_in"
    if op in ("in", "not_in"):
        hit = any(_yaml_equal(item, actual) for item in expected)
        return hit if op == "in" else not hit
    if op == "eq":
        return _yaml_equal(expected, actual)
    if op == "contains":
        return expected in actual
    if op == "icontains":
        return expected.lower() in actual.lower()
    if op == "startswith":
        return actual.startswith(expected)
    if isinstance(expected, int | float) and not isinstance(expected, bool):
        number = _number(actual)
        return number is not None and _compare(op, number, float(expected))
    return _compare(op, actual, _yaml_text(expected))


def eval_tree(node: Mapping[str, Any], attrs: Attrs) -> bool:
    """Evaluate a rule tree (``{all: [...]}``, ``{any: [...]}`` or a condition) directly."""
    if "all" in node:
        return all(eval_tree(item, attrs) for item in node["all"])
    if "any" in node:
        return any(eval_tree(item, attrs) for item in node["any"])
    name = node.get("attribute", node.get("property"))
    return condition_holds(node["op"], node["value"], attrs.get(name))


def _row_equal(row: Mapping[str, Any], actual: str) -> bool:
    if row["value_number"] is not None and _number(actual) is not None:
        return _number(actual) == row["value_number"]
    return actual == row["value_text"]


def _condition_rows_hold(rows: list[Mapping[str, Any]], actual: str | None) -> bool:
    op = rows[0]["op"]
    first = rows[0]
    if op == "exists":
        return (actual is not None) == (first["value_text"] == "true")
    if actual is None:
        return op == "not_in"
    if op in ("in", "not_in"):
        hit = any(_row_equal(row, actual) for row in rows)
        return hit if op == "in" else not hit
    if op == "eq":
        return _row_equal(first, actual)
    if op == "contains":
        return first["value_text"] in actual
    if op == "icontains":
        return first["value_text"].lower() in actual.lower()
    if op == "startswith":
        return actual.startswith(first["value_text"])
    if first["value_number"] is not None:
        number = _number(actual)
        return number is not None and _compare(op, number, first["value_number"])
    return _compare(op, actual, first["value_text"])


def eval_compiled(
    clauses: Iterable[Mapping[str, Any]],
    conditions: Iterable[Mapping[str, Any]],
    attrs: Attrs,
) -> bool:
    """Evaluate one owner's compiled clauses: any clause whose conditions all hold.

    ``clauses`` are that owner's rows of journey_persona_rules (or journey_stage_rules) and
    ``conditions`` its rows of journey_rule_conditions.
    """
    by_clause: dict[int, dict[int, list[Mapping[str, Any]]]] = {}
    for row in conditions:
        by_clause.setdefault(row["clause_id"], {}).setdefault(row["condition_id"], []).append(row)
    for clause in clauses:
        groups = by_clause.get(clause["clause_id"], {})
        assert len(groups) == clause["n_conditions"]
        held = sum(
            _condition_rows_hold(rows, attrs.get(rows[0]["property"])) for rows in groups.values()
        )
        if held == clause["n_conditions"]:
            return True
    return False


def like_matches(pattern: str, text: str, escape: str = "\\") -> bool:
    """SQL ``text LIKE pattern ESCAPE '\\'``, written out as a regular expression."""
    out: list[str] = []
    chars = iter(pattern)
    for char in chars:
        if char == escape:
            out.append(re.escape(next(chars)))
        elif char == "%":
            out.append(".*")
        elif char == "_":
            out.append(".")
        else:
            out.append(re.escape(char))
    return re.fullmatch("".join(out), text, flags=re.DOTALL) is not None


def glob_matches(pattern: str, text: str) -> bool:
    """The journey model's glob: ``*`` any run, ``?`` one character, nothing else special."""
    translated = pattern.replace("[", "[[]")
    return fnmatchcase(text, translated)
