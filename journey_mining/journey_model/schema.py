"""The journey model as typed, frozen objects: what a ``models/<journey_id>.yml`` file may say.

Validation messages are written here, next to the field they judge, so the loader only has to
add the file and the line. Checks that look across fields (duplicate ids, the designed path)
live in :func:`cross_check`, which also works on data that failed the field checks, so one
pass reports every problem in a file.
"""

from __future__ import annotations

import builtins
import difflib
import hashlib
import json
import math
import re
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, date, datetime
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Annotated, Any, Literal, Union

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Discriminator,
    Field,
    PrivateAttr,
    StrictInt,
    StringConstraints,
    Tag,
    ValidationInfo,
    field_serializer,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from journey_mining.journey_model.durations import parse_duration

__all__ = [
    "ALL_PERSONAS_ID",
    "CRM_TOUCHPOINTS",
    "KPI_METRICS",
    "KPI_OPERATORS",
    "MAX_CLAUSES",
    "OPERATORS",
    "RESERVED_PERSONA_ID",
    "AllOf",
    "AnyOf",
    "Condition",
    "ConditionValue",
    "Emotion",
    "JourneyModel",
    "Kpi",
    "Layers",
    "Matcher",
    "Persona",
    "PropertyCondition",
    "RuleGroup",
    "RuleNode",
    "Scalar",
    "Stage",
    "clause_count",
    "cross_check",
    "describe",
    "format_loc",
    "suggest",
]

OPERATORS: tuple[str, ...] = (
    "eq",
    "in",
    "not_in",
    "contains",
    "icontains",
    "startswith",
    "gt",
    "gte",
    "lt",
    "lte",
    "exists",
)
LIST_OPERATORS = frozenset({"in", "not_in"})
TEXT_OPERATORS = frozenset({"contains", "icontains", "startswith"})
ORDER_OPERATORS = frozenset({"gt", "gte", "lt", "lte"})
KPI_OPERATORS: tuple[str, ...] = ("gte", "lte", "gt", "lt")

KPI_METRICS: dict[str, str] = {
    "conversion_to_next": "rate",
    "drop_off_rate": "rate",
    "median_time_to_next": "duration",
    "p90_time_to_next": "duration",
    "csat_mean": "csat",
    "nps": "nps",
    "ticket_rate_per_100": "count",
}
"""KPI metric name to the kind of target it takes (see models/README.md)."""

CRM_TOUCHPOINTS: tuple[str, ...] = (
    "email_sent",
    "email_opened",
    "email_clicked",
    "call",
    "meeting",
    "demo",
    "ticket_opened",
    "ticket_closed",
    "deal_stage_changed",
    "survey_responded",
)
"""Canonical CRM activity types in the activity stream (docs/data_contracts.md, sections 1, 5)."""

RESERVED_PERSONA_ID = "unassigned"
ALL_PERSONAS_ID = "all"
"""The breakdown of every persona together in the mining tables and the map; no persona's id."""
MAX_CLAUSES = 256
"""Upper bound on the clauses one persona rule may expand to in disjunctive normal form."""

Scalar = str | int | float | bool
ConditionValue = Scalar | tuple[Scalar, ...]
Loc = tuple[str | int, ...]

_SNAKE = re.compile(r"[a-z][a-z0-9_]*")


def _problem(message: str) -> PydanticCustomError:
    return PydanticCustomError("journey_model", message)


_DESCRIPTIONS: tuple[tuple[type | tuple[type, ...], Callable[[Any], str]], ...] = (
    (type(None), lambda _: "null"),
    (bool, lambda value: f"boolean {str(value).lower()}"),
    ((int, float), lambda value: f"number {value}"),
    (datetime, lambda value: f"timestamp {value.isoformat()}"),
    (date, lambda value: f"date {value.isoformat()}"),
    (str, lambda value: f"text {value!r}"),
    ((list, tuple), lambda value: "a list" if value else "an empty list"),
    (dict, lambda _: "a mapping"),
)


def describe(value: object) -> str:
    """Name a YAML value's kind and show it, for messages such as ``expected text, got ...``."""
    for kinds, text in _DESCRIPTIONS:
        if isinstance(value, kinds):
            return text(value)
    return type(value).__name__


def suggest(word: str, options: Sequence[str]) -> str:
    """Return `` (did you mean 'x'?)`` for the closest option, or an empty string."""
    close = difflib.get_close_matches(word, list(options), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _one_of(options: Sequence[str]) -> Callable[[Any], Any]:
    def check(value: Any) -> Any:
        if not isinstance(value, str) or value not in options:
            shown = repr(value) if isinstance(value, str) else describe(value)
            hint = suggest(value, options) if isinstance(value, str) else ""
            msg = f"{shown} is not one of {', '.join(options)}{hint}"
            raise _problem(msg)
        return value

    return check


def _identifier(value: Any) -> Any:
    if isinstance(value, str) and not _SNAKE.fullmatch(value):
        msg = (
            f"{value!r} is not a snake_case id "
            "(lowercase letters, digits and _, starting with a letter)"
        )
        raise _problem(msg)
    return value


def _persona_identifier(value: Any) -> Any:
    if value == RESERVED_PERSONA_ID:
        msg = f"{value!r} is reserved for persons no persona matches; choose another id"
        raise _problem(msg)
    if value == ALL_PERSONAS_ID:
        msg = f"{value!r} is reserved for the view of every persona together; choose another id"
        raise _problem(msg)
    return _identifier(value)


def _duration(value: str) -> str:
    try:
        parse_duration(value)
    except ValueError as exc:
        raise _problem(str(exc)) from None
    return value


def _emotion_score(value: int) -> int:
    if not -2 <= value <= 2:
        msg = f"score {value} is outside -2..2 (-2 very negative, 0 neutral, 2 very positive)"
        raise _problem(msg)
    return value


Text = Annotated[str, StringConstraints(min_length=1)]
Identifier = Annotated[str, BeforeValidator(_identifier)]
PersonaId = Annotated[str, BeforeValidator(_persona_identifier)]
Window = Annotated[str, AfterValidator(_duration)]
Operator = Annotated[
    Literal[
        "eq",
        "in",
        "not_in",
        "contains",
        "icontains",
        "startswith",
        "gt",
        "gte",
        "lt",
        "lte",
        "exists",
    ],
    BeforeValidator(_one_of(OPERATORS)),
]
KpiOperator = Annotated[Literal["gte", "lte", "gt", "lt"], BeforeValidator(_one_of(KPI_OPERATORS))]
KpiMetric = Annotated[str, BeforeValidator(_one_of(tuple(KPI_METRICS)))]


def iso_text(value: date | datetime) -> str:
    """Write a date or timestamp as ISO text in UTC without offset, as the raw tables store it."""
    if isinstance(value, datetime):
        if value.tzinfo is not None:
            value = value.astimezone(UTC).replace(tzinfo=None)
        return value.isoformat(sep="T")
    return value.isoformat()


def _parse_iso(text: str) -> str | None:
    try:
        if len(text) == 10:
            return iso_text(date.fromisoformat(text))
        return iso_text(datetime.fromisoformat(text))
    except ValueError:
        return None


def _is_scalar(value: object) -> bool:
    if isinstance(value, float) and not math.isfinite(value):
        return False
    return isinstance(value, str | int | float | bool | date)


def _scalar(value: Any) -> Scalar:
    if isinstance(value, date):
        return iso_text(value)
    return value  # type: ignore[no-any-return]


def _list_value(op: str, value: Any) -> ConditionValue:
    if not isinstance(value, list | tuple) or not value:
        msg = f"'{op}' needs a non-empty list of values, got {describe(value)}"
        raise _problem(msg)
    for index, item in enumerate(value):
        if not _is_scalar(item):
            msg = (
                f"'{op}' list items must be text, numbers, booleans or dates; "
                f"item {index} is {describe(item)}"
            )
            raise _problem(msg)
    return tuple(_scalar(item) for item in value)


def _eq_value(op: str, value: Any) -> ConditionValue:
    if not _is_scalar(value):
        msg = f"'{op}' needs one text, number, boolean or date, got {describe(value)}"
        raise _problem(msg)
    return _scalar(value)


def _text_value(op: str, value: Any) -> ConditionValue:
    if not isinstance(value, str) or not value:
        msg = f"'{op}' needs non-empty text, got {describe(value)}"
        raise _problem(msg)
    return value


def _order_value(op: str, value: Any) -> ConditionValue:
    if isinstance(value, int | float) and not isinstance(value, bool) and _is_scalar(value):
        return value
    if isinstance(value, date):
        return iso_text(value)
    parsed = _parse_iso(value) if isinstance(value, str) else None
    if parsed is None:
        msg = f"'{op}' needs a number or an ISO date/datetime, got {describe(value)}"
        raise _problem(msg)
    return parsed


def _exists_value(op: str, value: Any) -> ConditionValue:
    if not isinstance(value, bool):
        msg = f"'{op}' needs true or false, got {describe(value)}"
        raise _problem(msg)
    return value


_VALUE_CHECKS: dict[str, Callable[[str, Any], ConditionValue]] = {
    "eq": _eq_value,
    "in": _list_value,
    "not_in": _list_value,
    "contains": _text_value,
    "icontains": _text_value,
    "startswith": _text_value,
    "gt": _order_value,
    "gte": _order_value,
    "lt": _order_value,
    "lte": _order_value,
    "exists": _exists_value,
}


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class _ConditionBase(_Frozen):
    op: Operator
    value: ConditionValue

    @field_validator("value", mode="plain")
    @classmethod
    def _value_fits_op(cls, value: Any, info: ValidationInfo) -> ConditionValue:
        op = info.data.get("op")
        if op is None:
            return value  # type: ignore[no-any-return]
        return _VALUE_CHECKS[op](op, value)

    @field_serializer("value")
    def _plain_value(self, value: ConditionValue) -> Any:
        return list(value) if isinstance(value, tuple) else value

    @property
    def name(self) -> str:
        """The attribute or property the condition reads."""
        raise NotImplementedError


class Condition(_ConditionBase):
    """A persona condition on a person attribute (CRM contact field or identify trait)."""

    attribute: Text

    @property
    def name(self) -> str:
        """The attribute the condition reads."""
        return self.attribute


class PropertyCondition(_ConditionBase):
    """A stage condition on a property of the matched event or touchpoint."""

    property: Text

    @builtins.property
    def name(self) -> str:
        """The property the condition reads."""
        return self.property


def _rule_tag(value: Any) -> str | None:
    if isinstance(value, BaseModel):
        return _MODEL_TAGS.get(type(value))
    if not isinstance(value, Mapping):
        return None
    for key, tag in (("all", "<all>"), ("any", "<any>")):
        if key in value:
            return tag
    return "<condition>" if {"attribute", "property", "op", "value"} & set(value) else None


class AllOf(_Frozen):
    """A group that holds when all of its items hold."""

    all: Annotated[tuple[RuleNode, ...], Field(min_length=1)]


class AnyOf(_Frozen):
    """A group that holds when any of its items holds."""

    any: Annotated[tuple[RuleNode, ...], Field(min_length=1)]


RULE_TAGS = ("<all>", "<any>", "<condition>")
RuleNode = Annotated[
    Union[  # noqa: UP007
        Annotated[AllOf, Tag("<all>")],
        Annotated[AnyOf, Tag("<any>")],
        Annotated[Condition, Tag("<condition>")],
    ],
    Discriminator(
        _rule_tag,
        custom_error_type="journey_model",
        custom_error_message=(
            "expected a condition {attribute, op, value} or a group {all: [...]} or {any: [...]}"
        ),
    ),
]
RuleGroup = Annotated[
    Union[  # noqa: UP007
        Annotated[AllOf, Tag("<all>")],
        Annotated[AnyOf, Tag("<any>")],
    ],
    Discriminator(
        _rule_tag,
        custom_error_type="journey_model",
        custom_error_message="expected a group {all: [...]} or {any: [...]}",
    ),
]
AllOf.model_rebuild()
AnyOf.model_rebuild()
_MODEL_TAGS: dict[type[BaseModel], str] = {AllOf: "<all>", AnyOf: "<any>", Condition: "<condition>"}


def _touchpoint(value: str) -> str:
    if any(fnmatchcase(name, value) for name in CRM_TOUCHPOINTS):
        return value
    msg = (
        f"{value!r} matches no CRM touchpoint type{suggest(value, CRM_TOUCHPOINTS)}; "
        f"types are {', '.join(CRM_TOUCHPOINTS)}"
    )
    raise _problem(msg)


class Matcher(_Frozen):
    """One way into a stage: a product event or a CRM touchpoint, and conditions on it."""

    event: Text | None = None
    touchpoint: Annotated[Text, AfterValidator(_touchpoint)] | None = None
    where: tuple[PropertyCondition, ...] = ()

    @model_validator(mode="before")
    @classmethod
    def _exactly_one_source(cls, data: Any) -> Any:
        if isinstance(data, Mapping) and ("event" in data) == ("touchpoint" in data):
            msg = (
                "needs exactly one of 'event' (a product event name or glob) "
                "or 'touchpoint' (a CRM activity type or glob)"
            )
            raise _problem(msg)
        return data

    @property
    def activity_source(self) -> Literal["product", "crm"]:
        """``product`` for ``event:`` matchers, ``crm`` for ``touchpoint:`` matchers."""
        return "product" if self.event is not None else "crm"

    @property
    def pattern(self) -> str:
        """The event name or touchpoint type as written, possibly a glob."""
        return self.event if self.event is not None else str(self.touchpoint)


class Emotion(_Frozen):
    """The expected emotion at a stage: the map's emotion line."""

    score: Annotated[StrictInt, AfterValidator(_emotion_score)]
    label: Text


class Layers(_Frozen):
    """The qualitative layers of a stage, written by the PM."""

    actions: tuple[Text, ...] = ()
    thoughts: tuple[Text, ...] = ()
    emotion: Emotion | None = None
    pain_points: tuple[Text, ...] = ()
    opportunities: tuple[Text, ...] = ()


def _kpi_target(metric: str, target: Any) -> float | str:
    kind = KPI_METRICS[metric]
    if kind == "duration":
        if not isinstance(target, str):
            msg = f"{metric} needs a duration like 2d or 36h, got {describe(target)}"
            raise _problem(msg)
        return _duration(target)
    if not isinstance(target, int | float) or isinstance(target, bool):
        msg = f"{metric} needs a number, got {describe(target)}"
        raise _problem(msg)
    low, high = {
        "rate": (0.0, 1.0),
        "csat": (1.0, 5.0),
        "nps": (-100.0, 100.0),
        "count": (0.0, float("inf")),
    }[kind]
    if not low <= target <= high:
        span = f"at least {low:g}" if high == float("inf") else f"between {low:g} and {high:g}"
        msg = f"{metric} target must be {span}, got {target}"
        raise _problem(msg)
    return float(target)


class Kpi(_Frozen):
    """A KPI target for a stage, checked against the measured figure on the map."""

    metric: KpiMetric
    op: KpiOperator
    target: float | str

    @field_validator("target", mode="plain")
    @classmethod
    def _target_fits_metric(cls, value: Any, info: ValidationInfo) -> float | str:
        metric = info.data.get("metric")
        if metric is None:
            return value  # type: ignore[no-any-return]
        return _kpi_target(metric, value)

    @property
    def target_value(self) -> float:
        """The target as a number: seconds for time metrics."""
        if isinstance(self.target, str):
            return float(parse_duration(self.target))
        return self.target


class Stage(_Frozen):
    """One stage of the journey, how activities enter it, and its layers, owner and KPIs."""

    id: Identifier
    name: Text
    match: Annotated[tuple[Matcher, ...], Field(min_length=1)]
    layers: Layers = Layers()
    owner: Text | None = None
    kpis: tuple[Kpi, ...] = ()


class Persona(_Frozen):
    """A persona and the rule over person attributes that assigns it."""

    id: PersonaId
    name: Text
    description: Text
    match: RuleGroup


CROSS_CHECKS = "cross_checks"
"""Validation context key: the loader sets it to False, as it runs :func:`cross_check` itself."""


class JourneyModel(_Frozen):
    """One journey map: one actor, one scenario, its personas, stages and designed path.

    Build it with :func:`journey_mining.journey_model.load_journey_model`, which adds the source
    path and the file's hash, and reports problems with their line numbers.
    """

    version: Literal[1]
    id: Identifier
    name: Text
    actor: Text
    scenario: Text
    expectations: tuple[Text, ...] = ()
    window: Window
    personas: tuple[Persona, ...]
    stages: Annotated[tuple[Stage, ...], Field(min_length=1)]
    designed_path: Annotated[tuple[Text, ...], Field(min_length=1)]
    owners: tuple[Text, ...] = ()

    _source_path: Path | None = PrivateAttr(default=None)
    _source_hash: str | None = PrivateAttr(default=None)
    _id_line: int = PrivateAttr(default=1)

    @field_validator("version", mode="before")
    @classmethod
    def _known_version(cls, value: Any) -> Any:
        if value != 1 or isinstance(value, bool):
            msg = f"{describe(value)} is not a supported version; the only version is 1"
            raise _problem(msg)
        return value

    @model_validator(mode="after")
    def _consistent(self, info: ValidationInfo) -> JourneyModel:
        if info.context and info.context.get(CROSS_CHECKS) is False:
            return self
        problems = cross_check(self.model_dump())
        if problems:
            msg = "; ".join(f"{format_loc(loc)}: {text}" for loc, text in problems)
            raise _problem(msg)
        return self

    @property
    def window_seconds(self) -> int:
        """The conversion window in seconds."""
        return parse_duration(self.window)

    @property
    def source_path(self) -> Path | None:
        """The file the model was loaded from, as it was given to the loader."""
        return self._source_path

    @property
    def model_hash(self) -> str:
        """SHA-256 of the source file, or of the model's JSON when built in code."""
        if self._source_hash is None:
            return hashlib.sha256(self.model_dump_json().encode()).hexdigest()
        return self._source_hash

    @property
    def stage_ids(self) -> tuple[str, ...]:
        """Stage ids in their declared order."""
        return tuple(stage.id for stage in self.stages)

    @property
    def persona_ids(self) -> tuple[str, ...]:
        """Persona ids in priority order (first match wins), without ``unassigned``."""
        return tuple(persona.id for persona in self.personas)

    def stage(self, stage_id: str) -> Stage:
        """Return the stage with this id; raise KeyError when there is none."""
        for stage in self.stages:
            if stage.id == stage_id:
                return stage
        raise KeyError(stage_id)


def format_loc(loc: Sequence[str | int]) -> str:
    """Write a location as the ``field`` part of a message: ``stages[3].match[0].where``.

    A key that is not a plain name (empty, or holding whitespace, ``.``, brackets or
    unprintable characters) is written as a JSON string in brackets with every non-ASCII
    character and space escaped (``kpis[3]["\\u0020x"]``), so the field stays one token
    of the ``path:line: field: problem`` line whatever junk a file holds.
    """
    text = ""
    for part in loc:
        if isinstance(part, int):
            text += f"[{part}]"
        elif _is_plain_key(part):
            text += f".{part}" if text else part
        else:
            text += "[" + json.dumps(part).replace(" ", "\\u0020") + "]"
    return text or "<file>"


def _is_plain_key(key: str) -> bool:
    return (
        key != ""
        and key.isascii()
        and key.isprintable()
        and not any(char.isspace() or char in ".[]" for char in key)
    )


def clause_count(node: Any) -> int:
    """Count the DNF clauses of a raw or dumped rule tree; unknown shapes count as one."""
    if isinstance(node, Mapping):
        if isinstance(node.get("all"), list | tuple):
            total = 1
            for item in node["all"]:
                total *= clause_count(item)
            return total
        if isinstance(node.get("any"), list | tuple):
            return sum(clause_count(item) for item in node["any"])
    if isinstance(node, AllOf | AnyOf | Condition):
        return clause_count(node.model_dump())
    return 1


def _id_problems(section: str, items: Any, kind: str) -> list[tuple[Loc, str]]:
    problems: list[tuple[Loc, str]] = []
    first: dict[str, int] = {}
    if not isinstance(items, list | tuple):
        return problems
    for index, item in enumerate(items):
        ident = item.get("id") if isinstance(item, Mapping) else None
        if not isinstance(ident, str):
            continue
        if ident in first:
            msg = f"duplicate {kind} id {ident!r} (first used by {section}[{first[ident]}])"
            problems.append(((section, index, "id"), msg))
        else:
            first[ident] = index
    return problems


def cross_check(data: Mapping[str, Any]) -> list[tuple[Loc, str]]:
    """Find problems that span fields, tolerating any malformed part of the data.

    Returns ``(location, message)`` pairs, the location in pydantic's ``loc`` style, so the
    loader can point at the line while field errors elsewhere are reported in the same pass.
    """
    problems = _id_problems("stages", data.get("stages"), "stage")
    problems += _id_problems("personas", data.get("personas"), "persona")
    stages = data.get("stages")
    stage_ids = [
        stage["id"]
        for stage in (stages if isinstance(stages, list | tuple) else [])
        if isinstance(stage, Mapping) and isinstance(stage.get("id"), str)
    ]
    path = data.get("designed_path")
    seen: dict[str, int] = {}
    for index, step in enumerate(path if isinstance(path, list | tuple) else []):
        if not isinstance(step, str):
            continue
        if step not in stage_ids:
            msg = (
                f"{step!r} is not a stage id{suggest(step, stage_ids)}; "
                f"stages are {', '.join(dict.fromkeys(stage_ids))}"
            )
            problems.append((("designed_path", index), msg))
        elif step in seen:
            msg = f"{step!r} appears twice (first at designed_path[{seen[step]}])"
            problems.append((("designed_path", index), msg))
        seen.setdefault(step, index)
    personas = data.get("personas")
    for index, persona in enumerate(personas if isinstance(personas, list | tuple) else []):
        if not isinstance(persona, Mapping):
            continue
        clauses = clause_count(persona.get("match"))
        if clauses > MAX_CLAUSES:
            msg = (
                f"the rule expands to {clauses} clauses in disjunctive normal form, more than "
                f"{MAX_CLAUSES}; split the persona or move an 'any' group outward"
            )
            problems.append((("personas", index, "match"), msg))
    return problems
