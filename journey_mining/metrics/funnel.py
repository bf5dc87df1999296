"""Event funnels in DuckDB SQL, with the semantics written down in FUNNELS.md.

Order within a person: timestamp, then (at one instant) events that match no step, then step
events in step order, then file order. An ordered attempt fills each next step with the earliest
later event matching it (greedy); times and ``step`` attribution use the first clean attempt that
reached the person's furthest step. An exclusion counts when its event falls strictly after the
from-step event and strictly before the to-step event (by time), or up to the end of the window
when the attempt never reached the to-step. In an unordered funnel each event fills at most one
step, and an exclusion cancels a window unless the events up to its instant already fill every
step.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, get_args

import duckdb
import yaml

from journey_mining.eventlog import read_sql
from journey_mining.journey_model.durations import parse_duration

__all__ = [
    "Breakdown",
    "Condition",
    "Exclusion",
    "FunnelBreakdown",
    "FunnelResult",
    "FunnelSpec",
    "FunnelSpecError",
    "FunnelStep",
    "Step",
    "funnel",
    "funnel_spec_from_dict",
    "load_funnel_spec",
]

Order = Literal["ordered", "strict", "unordered"]
Attribution = Literal["first_touch", "last_touch", "all_events", "step"]
Operator = Literal[
    "eq", "in", "not_in", "contains", "icontains", "startswith", "gt", "gte", "lt", "lte", "exists"
]

ORDERS: tuple[str, ...] = get_args(Order)
ATTRIBUTIONS: tuple[str, ...] = get_args(Attribution)
OPERATORS: tuple[str, ...] = get_args(Operator)
DEFAULT_WINDOW_SECONDS = 14 * 86_400
MAX_UNORDERED_STEPS = 12
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_COMPARISONS = {"gt": ">", "gte": ">=", "lt": "<", "lte": "<="}


class FunnelSpecError(ValueError):
    """A funnel definition (spec file or arguments) was refused; the message names the field."""


@dataclass(frozen=True)
class Condition:
    """A property condition: ``property op value``; a missing property is equal to nothing."""

    property: str
    op: Operator
    value: Any = None


@dataclass(frozen=True)
class Step:
    """A funnel step: an event name (``*`` for any) and conditions that must all hold."""

    event: str
    where: tuple[Condition, ...] = ()
    name: str | None = None

    @property
    def label(self) -> str:
        """The name reported for the step (the event name unless one is given)."""
        return self.name or self.event


@dataclass(frozen=True)
class Exclusion:
    """An event that must not fall between step ``from_step`` and ``to_step`` (from 1)."""

    event: str
    from_step: int
    to_step: int
    where: tuple[Condition, ...] = ()


@dataclass(frozen=True)
class Breakdown:
    """Split persons by the string values of ``properties``, attributed as ``attribution``."""

    properties: tuple[str, ...]
    attribution: Attribution = "first_touch"
    step: int | None = None


@dataclass(frozen=True)
class FunnelSpec:
    """Everything a funnel needs besides the data."""

    steps: tuple[Step, ...]
    window_seconds: float = DEFAULT_WINDOW_SECONDS
    order: Order = "ordered"
    exclusions: tuple[Exclusion, ...] = ()
    breakdown: Breakdown | None = None


@dataclass(frozen=True)
class FunnelStep:
    """One step's figures; times are from the previous step, ``None`` where undefined."""

    name: str
    count: int
    conversion_from_previous: float | None
    average_seconds_from_previous: float | None
    median_seconds_from_previous: float | None
    persons: tuple[str, ...] | None = None

    def to_dict(self) -> dict[str, Any]:
        """The JSON shape of ``journey funnel`` (``persons`` only when collected)."""
        data: dict[str, Any] = {
            "name": self.name,
            "count": self.count,
            "conversion_from_previous": self.conversion_from_previous,
            "average_seconds_from_previous": self.average_seconds_from_previous,
            "median_seconds_from_previous": self.median_seconds_from_previous,
        }
        if self.persons is not None:
            data["persons"] = list(self.persons)
        return data


@dataclass(frozen=True)
class FunnelBreakdown:
    """The funnel of the persons attributed to one breakdown value (one string per property)."""

    value: tuple[str, ...]
    steps: tuple[FunnelStep, ...]


@dataclass(frozen=True)
class FunnelResult:
    """A funnel: all persons, then one funnel per breakdown value (largest first)."""

    steps: tuple[FunnelStep, ...]
    breakdown: tuple[FunnelBreakdown, ...] = field(default=())

    def to_dict(self) -> dict[str, Any]:
        """The JSON document printed by ``journey funnel``."""
        return {
            "steps": [s.to_dict() for s in self.steps],
            "breakdown": [
                {"value": list(b.value), "steps": [s.to_dict() for s in b.steps]}
                for b in self.breakdown
            ],
        }


def funnel(
    source: duckdb.DuckDBPyConnection | duckdb.DuckDBPyRelation | Any,
    steps: Sequence[Step | str],
    window_seconds: float = DEFAULT_WINDOW_SECONDS,
    *,
    order: Order = "ordered",
    exclusions: Sequence[Exclusion] = (),
    breakdown: Breakdown | None = None,
    table: str | None = None,
    person_col: str = "person_key",
    event_col: str = "event",
    timestamp_col: str = "ts",
    order_col: str | None = "activity_seq",
    properties_col: str | None = "properties",
    include_persons: bool = False,
) -> FunnelResult:
    """Count persons through ordered, strict or unordered funnel steps, in DuckDB.

    Parameters
    ----------
    source
        A DuckDB connection (with ``table`` naming a table or view, ``schema.table`` allowed),
        a DuckDB relation, or a Polars/pandas/Arrow frame.
    steps
        The steps, as :class:`Step` or plain event names (``*`` matches any event).
    window_seconds
        Conversion window from the attempt's (or window's) first event, inclusive.
    order
        ``ordered`` (default), ``strict`` or ``unordered``.
    exclusions
        Events that spoil an attempt between two steps (FUNNELS.md "Exclusions").
    breakdown
        Properties to split persons by, and how values are attributed.
    table
        The table or view to read when ``source`` is a connection.
    person_col, event_col, timestamp_col
        The person id, event name and timestamp (TIMESTAMP or TIMESTAMPTZ) columns.
    order_col
        The file-order column breaking timestamp ties; ``None`` uses the scan order.
    properties_col
        JSON (or JSON text) properties read by conditions and breakdowns; ``None`` if absent.
    include_persons
        Also list the person ids counted at each step.

    Returns
    -------
    FunnelResult
        Counts, conversion from the previous step, mean and median seconds from it.

    Examples
    --------
    >>> import duckdb
    >>> con = duckdb.connect()
    >>> _ = con.execute("create table e as select * from (values ('p', 'A', timestamp '2024-01-01',"
    ...     " 0), ('p', 'B', timestamp '2024-01-02', 1)) t(person_key, event, ts, activity_seq)")
    >>> [s.count for s in funnel(con, ["A", "B"], table="e", properties_col=None).steps]
    [1, 1]
    """
    spec = FunnelSpec(
        steps=tuple(s if isinstance(s, Step) else Step(event=s) for s in steps),
        window_seconds=window_seconds,
        order=order,
        exclusions=tuple(exclusions),
        breakdown=breakdown,
    )
    _validate(spec)
    con, relation = _relation(source, table)
    columns = _Columns(
        person=_quote(person_col),
        event=_quote(event_col),
        timestamp=_quote(timestamp_col),
        order=_quote(order_col) if order_col else "row_number() over ()",
        properties=_quote(properties_col) if properties_col else "cast(null as varchar)",
    )
    overall = _run(con, relation, columns, spec, grouped=False, persons=include_persons)
    buckets: dict[str, list[FunnelStep]] = {}
    if spec.breakdown is not None and spec.breakdown.attribution == "all_events":
        buckets = _run(con, relation, columns, spec, grouped=True, persons=include_persons)
    elif spec.breakdown is not None:
        buckets = _aggregate(con, spec, _attribute(con, spec), persons=include_persons)
    _drop_temp(con)
    ranked = sorted(buckets.items(), key=lambda item: (-item[1][0].count, item[0]))
    return FunnelResult(
        steps=tuple(overall.get("", _steps(spec, {}, persons=include_persons))),
        breakdown=tuple(
            FunnelBreakdown(value=tuple(json.loads(value)), steps=tuple(figures))
            for value, figures in ranked
        ),
    )


def load_funnel_spec(path: str | Path) -> FunnelSpec:
    """Read a funnel spec from a YAML or JSON file.

    Raises
    ------
    FunnelSpecError
        With ``path: field: problem`` when the file is missing, unparseable or invalid.
    """
    source = Path(path)
    try:
        data = yaml.safe_load(source.read_text(encoding="utf-8"))
    except OSError as error:
        msg = f"{source}: cannot read spec: {error.strerror or error}"
        raise FunnelSpecError(msg) from error
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f":{mark.line + 1}" if mark is not None else ""
        problem = getattr(error, "problem", None) or "not valid YAML or JSON"
        msg = f"{source}{where}: {problem}"
        raise FunnelSpecError(msg) from error
    return funnel_spec_from_dict(data, origin=str(source))


def funnel_spec_from_dict(data: Any, *, origin: str = "spec") -> FunnelSpec:
    """Validate a parsed spec (``steps``, ``window``, ``order``, ``exclusions``, ``breakdown``).

    Raises
    ------
    FunnelSpecError
        With ``origin: field: problem``.
    """
    if not isinstance(data, Mapping):
        _fail(origin, "(top level)", "must be a mapping with 'steps'")
    unknown = sorted(set(data) - {"steps", "window", "order", "exclusions", "breakdown"})
    if unknown:
        _fail(
            origin, unknown[0], "unknown key (expected steps, window, order, exclusions, breakdown)"
        )
    raw_steps = data.get("steps")
    if not isinstance(raw_steps, list) or not raw_steps:
        _fail(origin, "steps", "must be a non-empty list")
    steps = tuple(_step(origin, f"steps[{i}]", s) for i, s in enumerate(raw_steps))
    window: float = DEFAULT_WINDOW_SECONDS
    if "window" in data:
        raw_window = data["window"]
        if isinstance(raw_window, int | float) and not isinstance(raw_window, bool):
            window = float(raw_window)
        else:
            try:
                window = parse_duration(str(raw_window))
            except ValueError as error:
                _fail(origin, "window", str(error))
    order = data.get("order", "ordered")
    if order not in ORDERS:
        _fail(origin, "order", f"{order!r} is not one of {', '.join(ORDERS)}")
    raw_exclusions = data.get("exclusions") or []
    if not isinstance(raw_exclusions, list):
        _fail(origin, "exclusions", "must be a list")
    exclusions = tuple(
        _exclusion(origin, f"exclusions[{i}]", e) for i, e in enumerate(raw_exclusions)
    )
    breakdown = _breakdown(origin, data["breakdown"]) if data.get("breakdown") else None
    spec = FunnelSpec(steps, window, order, exclusions, breakdown)
    try:
        _validate(spec)
    except FunnelSpecError as error:
        msg = f"{origin}: {error}"
        raise FunnelSpecError(msg) from error
    return spec


def _fail(origin: str, where: str, problem: str) -> Any:
    msg = f"{origin}: {where}: {problem}"
    raise FunnelSpecError(msg)


def _step(origin: str, where: str, raw: Any) -> Step:
    if isinstance(raw, str):
        return Step(event=raw)
    if not isinstance(raw, Mapping):
        _fail(origin, where, "must be an event name or a mapping with 'event'")
    unknown = sorted(set(raw) - {"event", "where", "name"})
    if unknown:
        _fail(origin, f"{where}.{unknown[0]}", "unknown key (expected event, where, name)")
    event = raw.get("event")
    if not isinstance(event, str) or not event:
        _fail(origin, f"{where}.event", "must be a non-empty event name (or '*')")
    name = raw.get("name")
    if name is not None and not isinstance(name, str):
        _fail(origin, f"{where}.name", "must be a string")
    return Step(
        event=event, where=_conditions(origin, f"{where}.where", raw.get("where")), name=name
    )


def _exclusion(origin: str, where: str, raw: Any) -> Exclusion:
    if not isinstance(raw, Mapping):
        _fail(origin, where, "must be a mapping with event, from_step, to_step")
    unknown = sorted(set(raw) - {"event", "from_step", "to_step", "where"})
    if unknown:
        _fail(
            origin,
            f"{where}.{unknown[0]}",
            "unknown key (expected event, from_step, to_step, where)",
        )
    event = raw.get("event")
    if not isinstance(event, str) or not event:
        _fail(origin, f"{where}.event", "must be a non-empty event name (or '*')")
    bounds = []
    for key in ("from_step", "to_step"):
        value = raw.get(key)
        if not isinstance(value, int) or isinstance(value, bool):
            _fail(origin, f"{where}.{key}", "must be a step number (steps start at 1)")
        bounds.append(value)
    return Exclusion(
        event, bounds[0], bounds[1], _conditions(origin, f"{where}.where", raw.get("where"))
    )


def _conditions(origin: str, where: str, raw: Any) -> tuple[Condition, ...]:
    if raw is None:
        return ()
    if isinstance(raw, Mapping):
        raw = [raw]
    if not isinstance(raw, list):
        _fail(origin, where, "must be a list of {property, op, value}")
    found = []
    for i, item in enumerate(raw):
        here = f"{where}[{i}]"
        if not isinstance(item, Mapping):
            _fail(origin, here, "must be a mapping with property, op, value")
        unknown = sorted(set(item) - {"property", "op", "value", "values"})
        if unknown:
            _fail(origin, f"{here}.{unknown[0]}", "unknown key (expected property, op, value)")
        prop = item.get("property")
        if not isinstance(prop, str) or not prop:
            _fail(origin, f"{here}.property", "must be a property name")
        op = item.get("op", "eq")
        if op not in OPERATORS:
            _fail(origin, f"{here}.op", f"{op!r} is not one of {', '.join(OPERATORS)}")
        value = item.get("value", item.get("values"))
        found.append(Condition(prop, op, value))
    return tuple(found)


def _breakdown(origin: str, raw: Any) -> Breakdown:
    if isinstance(raw, str | list):
        raw = {"properties": raw}
    if not isinstance(raw, Mapping):
        _fail(origin, "breakdown", "must be a mapping with properties and attribution")
    unknown = sorted(set(raw) - {"properties", "property", "attribution", "step"})
    if unknown:
        _fail(
            origin,
            f"breakdown.{unknown[0]}",
            "unknown key (expected properties, attribution, step)",
        )
    props = raw.get("properties", raw.get("property"))
    if isinstance(props, str):
        props = [props]
    if not isinstance(props, list) or not props or not all(isinstance(p, str) for p in props):
        _fail(origin, "breakdown.properties", "must be a property name or a list of them")
    attribution = raw.get("attribution", "first_touch")
    if attribution not in ATTRIBUTIONS:
        _fail(
            origin,
            "breakdown.attribution",
            f"{attribution!r} is not one of {', '.join(ATTRIBUTIONS)}",
        )
    step = raw.get("step")
    if step is not None and (not isinstance(step, int) or isinstance(step, bool)):
        _fail(origin, "breakdown.step", "must be a step number (steps start at 1)")
    return Breakdown(tuple(props), attribution, step)


def _validate(spec: FunnelSpec) -> None:
    n_steps = len(spec.steps)
    if not n_steps:
        msg = "steps: a funnel needs at least one step"
        raise FunnelSpecError(msg)
    if spec.order not in ORDERS:
        msg = f"order: {spec.order!r} is not one of {', '.join(ORDERS)}"
        raise FunnelSpecError(msg)
    if spec.order == "unordered" and n_steps > MAX_UNORDERED_STEPS:
        msg = f"steps: an unordered funnel takes at most {MAX_UNORDERED_STEPS} steps"
        raise FunnelSpecError(msg)
    if not spec.window_seconds > 0:
        msg = f"window: must be longer than 0s, got {spec.window_seconds}"
        raise FunnelSpecError(msg)
    for i, step in enumerate(spec.steps):
        if not step.event:
            msg = f"steps[{i}].event: must be a non-empty event name (or '*')"
            raise FunnelSpecError(msg)
        _check_conditions(f"steps[{i}].where", step.where)
    for i, exclusion in enumerate(spec.exclusions):
        if not 1 <= exclusion.from_step < exclusion.to_step <= n_steps:
            msg = (
                f"exclusions[{i}]: from_step {exclusion.from_step} and to_step "
                f"{exclusion.to_step} must satisfy 1 <= from_step < to_step <= {n_steps}"
            )
            raise FunnelSpecError(msg)
        _check_conditions(f"exclusions[{i}].where", exclusion.where)
    if spec.breakdown is not None:
        bd = spec.breakdown
        if bd.attribution not in ATTRIBUTIONS:
            msg = f"breakdown.attribution: {bd.attribution!r} is not one of "
            msg += ", ".join(ATTRIBUTIONS)
            raise FunnelSpecError(msg)
        if not bd.properties:
            msg = "breakdown.properties: name at least one property"
            raise FunnelSpecError(msg)
        if bd.attribution == "step" and (bd.step is None or not 1 <= bd.step <= n_steps):
            msg = f"breakdown.step: attribution 'step' needs step: N with 1 <= N <= {n_steps}"
            raise FunnelSpecError(msg)


def _check_conditions(where: str, conditions: Sequence[Condition]) -> None:
    for i, condition in enumerate(conditions):
        here = f"{where}[{i}]"
        if condition.op not in OPERATORS:
            msg = f"{here}.op: {condition.op!r} is not one of {', '.join(OPERATORS)}"
            raise FunnelSpecError(msg)
        value = condition.value
        if condition.op in {"in", "not_in"}:
            if not isinstance(value, list | tuple) or not all(_scalar(v) for v in value):
                msg = f"{here}.value: {condition.op} needs a list of values"
                raise FunnelSpecError(msg)
        elif condition.op == "exists":
            if value is not None and not isinstance(value, bool):
                msg = f"{here}.value: exists takes true, false or nothing"
                raise FunnelSpecError(msg)
        elif condition.op in {"contains", "icontains", "startswith"}:
            if not isinstance(value, str):
                msg = f"{here}.value: {condition.op} needs a string"
                raise FunnelSpecError(msg)
        elif not _scalar(value) or value is None:
            msg = f"{here}.value: {condition.op} needs a string, number or boolean"
            raise FunnelSpecError(msg)


def _scalar(value: Any) -> bool:
    return value is None or isinstance(value, str | int | float | bool)


@dataclass(frozen=True)
class _Columns:
    person: str
    event: str
    timestamp: str
    order: str
    properties: str


class _Params:
    """Named parameters collected while SQL text is assembled from allowlisted pieces."""

    def __init__(self) -> None:
        self.values: dict[str, Any] = {}

    def bind(self, value: Any) -> str:
        name = f"p{len(self.values)}"
        self.values[name] = value
        return f"${name}"


def _matches(
    params: _Params, event: str, conditions: Sequence[Condition], props: Mapping[str, str]
) -> str:
    """SQL true where an event is ``event`` and meets ``conditions``; ``props`` maps each
    property to the SQL of its value."""
    parts = ["true" if event == "*" else f"coalesce(event = {params.bind(event)}, false)"]
    parts.extend(_condition_sql(params, c, props[c.property]) for c in conditions)
    return "(" + " and ".join(parts) + ")"


def _parsed_properties(
    params: _Params, spec: FunnelSpec, properties: str, event: str
) -> tuple[str, dict[str, str]]:
    """The SQL of ``props`` (funnel_events.sql) and each property's value in it.

    All the properties the funnel reads come from one parse of an event's JSON, and only for
    events whose step or exclusion has conditions (every event when a breakdown reads them).
    """
    rules: list[Step | Exclusion] = [*spec.steps, *spec.exclusions]
    names = [c.property for rule in rules for c in rule.where]
    names += list(spec.breakdown.properties) if spec.breakdown else []
    names = list(dict.fromkeys(names))
    if not names:
        return "cast(null as varchar[])", {}
    paths = params.bind([_json_path(name) for name in names])
    parsed = f"json_extract_string(cast({properties} as varchar), {paths})"
    conditioned = {rule.event for rule in rules if rule.where}
    if not (spec.breakdown or "*" in conditioned):
        events = ", ".join(params.bind(name) for name in sorted(conditioned))
        parsed = f"case when cast({event} as varchar) in ({events}) then {parsed} end"
    return parsed, {name: f"props[{i}]" for i, name in enumerate(names, start=1)}


def _named_events(params: _Params, spec: FunnelSpec, event: str) -> str:
    """SQL true for the events a funnel reads: all of them for a strict funnel (every event
    between two steps breaks it) or a ``*`` step, else those named by a step or exclusion."""
    rules: list[Step | Exclusion] = [*spec.steps, *spec.exclusions]
    names = {rule.event for rule in rules}
    if spec.order == "strict" or "*" in names:
        return "true"
    return f"cast({event} as varchar) in ({', '.join(params.bind(n) for n in sorted(names))})"


_TEXT_TESTS = {
    "contains": "contains({value}, {target})",
    "icontains": "contains(lower({value}), lower({target}))",
    "startswith": "starts_with({value}, {target})",
}


def _condition_sql(params: _Params, condition: Condition, value: str) -> str:
    op, target = condition.op, condition.value
    if op == "exists":
        return f"({value} is {'not ' if target is not False else ''}null)"
    if op in {"in", "not_in", "eq"}:
        options = [_equals(params, value, v) for v in (target if op != "eq" else [target])]
        any_equal = "coalesce(" + (" or ".join(options) or "false") + ", false)"
        return f"(not {any_equal})" if op == "not_in" else any_equal
    if op in _TEXT_TESTS:
        test = _TEXT_TESTS[op].format(value=value, target=params.bind(target))
    elif isinstance(target, int | float) and not isinstance(target, bool):
        test = f"try_cast({value} as double) {_COMPARISONS[op]} {params.bind(float(target))}"
    else:
        test = f"{value} {_COMPARISONS[op]} {params.bind(_text(target))}"
    return f"coalesce({test}, false)"


def _equals(params: _Params, value: str, target: Any) -> str:
    if target is None:
        return "false"
    if isinstance(target, bool):
        return f"(lower({value}) = {params.bind(_text(target))})"
    if isinstance(target, int | float):
        return f"(try_cast({value} as double) = {params.bind(float(target))})"
    return f"({value} = {params.bind(str(target))})"


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _json_path(key: str) -> str:
    return "$." + json.dumps(key)


def _mask(parts: Sequence[str]) -> str:
    if not parts:
        return "cast(0 as bigint)"
    terms = [f"(case when {p} then {1 << i} else 0 end)" for i, p in enumerate(parts)]
    return "cast(" + " + ".join(terms) + " as bigint)"


def _relation(source: Any, table: str | None) -> tuple[duckdb.DuckDBPyConnection, str]:
    if isinstance(source, duckdb.DuckDBPyConnection):
        if not table:
            msg = "funnel: pass table= (a table or view name) with a connection"
            raise FunnelSpecError(msg)
        return source, ".".join(_quote(part) for part in table.split("."))
    con = duckdb.connect()
    frame = source.arrow() if isinstance(source, duckdb.DuckDBPyRelation) else source
    con.register("_jm_funnel_source", frame)
    return con, "_jm_funnel_source"


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _execute(con: duckdb.DuckDBPyConnection, sql: str, params: Mapping[str, Any]) -> None:
    used = {k: v for k, v in params.items() if f"${k}" in sql}
    con.execute(sql, used).fetchall()


def _run(
    con: duckdb.DuckDBPyConnection,
    relation: str,
    columns: _Columns,
    spec: FunnelSpec,
    *,
    grouped: bool,
    persons: bool,
) -> dict[str, list[FunnelStep]]:
    n_steps = len(spec.steps)
    params = _Params()
    parsed, props = _parsed_properties(params, spec, columns.properties, columns.event)
    step_mask = _mask([_matches(params, s.event, s.where, props) for s in spec.steps])
    exclusion_mask = _mask([_matches(params, e.event, e.where, props) for e in spec.exclusions])
    names = spec.breakdown.properties if spec.breakdown else ()
    values = [f"coalesce({props[name]}, '')" for name in names]
    breakdown_value = f"to_json([{', '.join(values)}])" if values else "'[]'"
    has_breakdown = " or ".join(f"{v} <> ''" for v in values) if values else "false"
    partition = "person_key, grp" if grouped else "person_key"
    sql = read_sql("funnel_events").format(
        relation=relation,
        person=columns.person,
        event=columns.event,
        timestamp=columns.timestamp,
        order=columns.order,
        props=parsed,
        named=_named_events(params, spec, columns.event),
        step_mask=step_mask,
        exclusion_mask=exclusion_mask,
        breakdown_value=breakdown_value,
        has_breakdown=has_breakdown,
        grp="breakdown_value" if grouped else "''",
        partition=partition,
        keep="true" if spec.order == "strict" else "step_mask <> 0 or exclusion_mask <> 0",
    )
    bound = {
        **params.values,
        "n_steps": n_steps,
        "window_us": round(spec.window_seconds * 1_000_000),
        "subsets": 1 << n_steps,
    }
    try:
        _execute(con, sql, bound)
    except duckdb.Error as error:
        msg = f"funnel: cannot read the events: {str(error).strip().splitlines()[0]}"
        raise FunnelSpecError(msg) from error
    con.execute(
        "create or replace temp table _jm_funnel_exclusion_defs as "
        "select unnest($indexes) as exclusion_index, unnest($froms) as from_step, "
        "unnest($tos) as to_step",
        {
            "indexes": list(range(len(spec.exclusions))) or [0],
            "froms": [e.from_step for e in spec.exclusions] or [0],
            "tos": [e.to_step for e in spec.exclusions] or [0],
        },
    ).fetchall()
    if spec.order == "unordered":
        for name in (
            "funnel_unordered_windows",
            "funnel_unordered_persons",
            "funnel_unordered_times",
        ):
            _execute(con, read_sql(name), bound)
    else:
        if spec.order == "ordered":
            _execute(con, _following_steps_sql(n_steps, partition), bound)
        _execute(con, read_sql(f"funnel_chain_{spec.order}"), bound)
        persons_sql = "funnel_attempts" if spec.exclusions else "funnel_persons_unexcluded"
        _execute(con, read_sql(persons_sql), bound)
        _execute(con, read_sql("funnel_times"), bound)
    _execute(con, read_sql("funnel_buckets_group"), bound)
    return _aggregate(con, spec, bound, persons=persons)


def _following_steps_sql(n_steps: int, partition: str) -> str:
    """``funnel_next_ordered`` with one windowed minimum per later step (of the packed event)."""
    picks = [
        f"min(case when (step_mask >> {step - 1}) & 1 = 1 then packed_event end) "
        "over following_events"
        for step in range(2, n_steps + 1)
    ]
    return read_sql("funnel_next_ordered").format(
        following=", ".join(picks) or "cast(null as hugeint)", partition=partition
    )


def _attribute(con: duckdb.DuckDBPyConnection, spec: FunnelSpec) -> dict[str, Any]:
    assert spec.breakdown is not None
    bound: dict[str, Any] = {
        "n_steps": len(spec.steps),
        "empty_value": json.dumps([""] * len(spec.breakdown.properties), separators=(",", ":")),
        "attribution_step": spec.breakdown.step,
    }
    if spec.breakdown.attribution == "step":
        _execute(con, read_sql("funnel_buckets_step"), bound)
    else:
        pick = "arg_min" if spec.breakdown.attribution == "first_touch" else "arg_max"
        _execute(con, read_sql("funnel_buckets_touch").format(pick=pick), bound)
    return bound


def _aggregate(
    con: duckdb.DuckDBPyConnection, spec: FunnelSpec, bound: Mapping[str, Any], *, persons: bool
) -> dict[str, list[FunnelStep]]:
    person_list = "list(buckets.person_key order by buckets.person_key)" if persons else "null"
    sql = read_sql("funnel_aggregate").format(person_list=person_list)
    used = {k: v for k, v in bound.items() if f"${k}" in sql}
    rows = con.execute(sql, used).fetchall()
    figures: dict[str, dict[int, tuple[Any, ...]]] = {}
    for bucket, step, count, average, median, keys in rows:
        figures.setdefault(str(bucket), {})[int(step)] = (count, average, median, keys)
    return {bucket: _steps(spec, by_step, persons=persons) for bucket, by_step in figures.items()}


def _steps(
    spec: FunnelSpec, by_step: Mapping[int, tuple[Any, ...]], *, persons: bool
) -> list[FunnelStep]:
    result: list[FunnelStep] = []
    previous: int | None = None
    for number, step in enumerate(spec.steps, start=1):
        count, average, median, keys = by_step.get(number, (0, None, None, []))
        if number == 1:
            conversion = 1.0 if count else None
        else:
            conversion = count / previous if previous else None
        result.append(
            FunnelStep(
                name=step.label,
                count=int(count),
                conversion_from_previous=conversion,
                average_seconds_from_previous=None
                if number == 1 or average is None
                else float(average),
                median_seconds_from_previous=None
                if number == 1 or median is None
                else float(median),
                persons=tuple(str(k) for k in (keys or [])) if persons else None,
            )
        )
        previous = int(count)
    return result


def _empty_steps(spec: FunnelSpec) -> list[FunnelStep]:
    return _steps(spec, {}, persons=False)


def _drop_temp(con: duckdb.DuckDBPyConnection) -> None:
    for name in (
        "events",
        "next",
        "chain",
        "persons",
        "times",
        "windows",
        "buckets",
        "exclusion_defs",
    ):
        con.execute(f"drop table if exists _jm_funnel_{name}").fetchall()
