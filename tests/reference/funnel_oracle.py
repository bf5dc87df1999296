"""Brute-force event funnels, one person at a time, written from FUNNELS.md "Event funnels".

Slow and obvious on purpose: the SQL engine in journey_mining.metrics.funnel must agree with it.
Choices FUNNELS.md leaves open follow the engine's module docstring (order at one instant: events
matching no step, then step order, then file order; greedy earliest step events; exclusions
strictly between by time).
"""

from __future__ import annotations

import json
import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Ev:
    person: str
    event: str
    ts_us: int
    seq: int
    props: dict[str, Any] = field(default_factory=dict)


def _as_float(value: Any) -> float | None:
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _prop_text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    return json.dumps(value)


def condition_holds(condition: Any, props: dict[str, Any]) -> bool:
    raw = _prop_text(props.get(condition.property))
    op, target = condition.op, condition.value
    if op == "exists":
        return (raw is not None) if target is not False else (raw is None)

    def equal(t: Any) -> bool:
        if raw is None or t is None:
            return False
        if isinstance(t, bool):
            return raw.lower() == ("true" if t else "false")
        if isinstance(t, int | float):
            number = _as_float(raw)
            return number is not None and number == float(t)
        return raw == str(t)

    if op == "eq":
        return equal(target)
    if op == "in":
        return any(equal(t) for t in target)
    if op == "not_in":
        return not any(equal(t) for t in target)
    if raw is None:
        return False
    if op == "contains":
        return target in raw
    if op == "icontains":
        return target.lower() in raw.lower()
    if op == "startswith":
        return raw.startswith(target)
    if isinstance(target, int | float) and not isinstance(target, bool):
        number = _as_float(raw)
        if number is None:
            return False
        left, right = number, float(target)
    else:
        left, right = (
            raw,
            ("true" if target is True else "false" if target is False else str(target)),
        )
    return {
        "gt": left > right,
        "gte": left >= right,
        "lt": left < right,
        "lte": left <= right,
    }[op]


def matches(rule: Any, ev: Ev) -> bool:
    if rule.event != "*" and ev.event != rule.event:
        return False
    return all(condition_holds(c, ev.props) for c in rule.where)


@dataclass
class PersonResult:
    furthest: int
    gaps: dict[int, float]
    step_events: dict[int, Ev]


def _sorted(events: list[Ev], steps: Sequence[Any]) -> list[Ev]:
    def rank(ev: Ev) -> int:
        for number, step in enumerate(steps, start=1):
            if matches(step, ev):
                return number
        return 0

    return sorted(events, key=lambda ev: (ev.ts_us, rank(ev), ev.seq))


def _attempt(
    events: list[Ev], start: int, steps: Sequence[Any], window_us: int, strict: bool
) -> list[int]:
    chosen = [start]
    for step in steps[1:]:
        last = chosen[-1]
        found = None
        if strict:
            nxt = last + 1
            if nxt < len(events) and matches(step, events[nxt]):
                found = nxt
        else:
            for j in range(last + 1, len(events)):
                if matches(step, events[j]):
                    found = j
                    break
        if found is None or events[found].ts_us - events[start].ts_us > window_us:
            break
        chosen.append(found)
    return chosen


def _spoiled(
    events: list[Ev], chosen: list[int], exclusions: Sequence[Any], window_us: int
) -> bool:
    start_ts = events[chosen[0]].ts_us
    for exclusion in exclusions:
        if len(chosen) < exclusion.from_step:
            continue
        low = events[chosen[exclusion.from_step - 1]].ts_us
        if len(chosen) >= exclusion.to_step:
            high_ok = lambda ts, h=events[chosen[exclusion.to_step - 1]].ts_us: ts < h  # noqa: E731
        else:
            high_ok = lambda ts, h=start_ts + window_us: ts <= h  # noqa: E731
        for ev in events:
            if matches(exclusion, ev) and ev.ts_us > low and high_ok(ev.ts_us):
                return True
    return False


def _sequential(
    events: list[Ev], steps: Sequence[Any], window_us: int, exclusions: Sequence[Any], strict: bool
) -> PersonResult | None:
    attempts = [
        _attempt(events, i, steps, window_us, strict)
        for i, ev in enumerate(events)
        if matches(steps[0], ev)
    ]
    if not attempts:
        return None
    furthest = max(len(a) for a in attempts)
    clean = [
        a for a in attempts if len(a) == furthest and not _spoiled(events, a, exclusions, window_us)
    ]
    if not clean:
        return None
    best = clean[0]
    gaps = {
        k + 1: (events[best[k]].ts_us - events[best[k - 1]].ts_us) / 1e6
        for k in range(1, len(best))
    }
    return PersonResult(furthest, gaps, {k + 1: events[i] for k, i in enumerate(best)})


def _max_matching(window: list[Ev], steps: Sequence[Any]) -> int:
    owner: dict[int, int] = {}

    def augment(step: int, seen: set[int]) -> bool:
        for j, ev in enumerate(window):
            if j in seen or not matches(steps[step], ev):
                continue
            seen.add(j)
            if j not in owner or augment(owner[j], seen):
                owner[j] = step
                return True
        return False

    return sum(1 for k in range(len(steps)) if augment(k, set()))


def _unordered(
    events: list[Ev], steps: Sequence[Any], window_us: int, exclusions: Sequence[Any]
) -> PersonResult | None:
    n = len(steps)
    step_events = [ev for ev in events if any(matches(s, ev) for s in steps)]
    candidates = []
    for position, anchor in enumerate(events):
        if not any(matches(s, anchor) for s in steps):
            continue
        t = anchor.ts_us
        cuts = [
            ev.ts_us
            for ev in events
            if any(matches(x, ev) for x in exclusions) and t < ev.ts_us <= t + window_us
        ]
        end = min(cuts) if cuts else t + window_us
        inside = [ev for ev in step_events if t <= ev.ts_us <= end]
        matched = _max_matching(inside, steps)
        if cuts and matched < n:
            continue
        candidates.append((matched, position, inside))
    if not candidates:
        return None
    furthest = max(c[0] for c in candidates)
    _, _, inside = min((c for c in candidates if c[0] == furthest), key=lambda c: c[1])
    order = {id(ev): i for i, ev in enumerate(events)}
    firsts = []
    for number, step in enumerate(steps, start=1):
        hits = [ev for ev in inside if matches(step, ev)]
        if hits:
            first = min(hits, key=lambda ev: order[id(ev)])
            firsts.append((first.ts_us, order[id(first)], number, first))
    firsts.sort(key=lambda f: f[:3])
    firsts = firsts[:furthest]
    gaps = {k + 1: (firsts[k][0] - firsts[k - 1][0]) / 1e6 for k in range(1, len(firsts))}
    return PersonResult(furthest, gaps, {k + 1: f[3] for k, f in enumerate(firsts)})


def _value(ev: Ev, properties: Sequence[str]) -> tuple[str, ...]:
    return tuple(_prop_text(ev.props.get(p)) or "" for p in properties)


def _person(
    events: list[Ev], steps: Sequence[Any], window_us: int, order: str, exclusions: Sequence[Any]
) -> PersonResult | None:
    ordered = _sorted(events, steps)
    if order == "unordered":
        return _unordered(ordered, steps, window_us, exclusions)
    return _sequential(ordered, steps, window_us, exclusions, strict=order == "strict")


def _figures(results: dict[str, PersonResult], steps: Sequence[Any]) -> list[dict[str, Any]]:
    out = []
    previous = None
    for k in range(1, len(steps) + 1):
        reached = {p: r for p, r in results.items() if r.furthest >= k}
        gaps = [r.gaps[k] for r in reached.values() if k in r.gaps]
        count = len(reached)
        conversion = (count / previous if previous else None) if k > 1 else (1.0 if count else None)
        out.append(
            {
                "name": steps[k - 1].name or steps[k - 1].event,
                "count": count,
                "conversion_from_previous": conversion,
                "average_seconds_from_previous": statistics.fmean(gaps) if gaps and k > 1 else None,
                "median_seconds_from_previous": statistics.median(gaps) if gaps and k > 1 else None,
                "persons": sorted(reached),
            }
        )
        previous = count
    return out


def oracle_funnel(
    events: Sequence[Ev],
    steps: Sequence[Any],
    window_seconds: float,
    order: str = "ordered",
    exclusions: Sequence[Any] = (),
    breakdown: Any = None,
) -> dict[str, Any]:
    """The ``FunnelResult.to_dict()`` document (with persons) the engine must produce."""
    window_us = round(window_seconds * 1_000_000)
    people: dict[str, list[Ev]] = {}
    for ev in events:
        people.setdefault(ev.person, []).append(ev)
    results = {}
    for person, evs in people.items():
        result = _person(evs, steps, window_us, order, exclusions)
        if result is not None:
            results[person] = result
    document: dict[str, Any] = {"steps": _figures(results, steps), "breakdown": []}
    if breakdown is None:
        return document
    props = breakdown.properties
    empty = tuple("" for _ in props)
    buckets: dict[tuple[str, ...], dict[str, PersonResult]] = {}
    if breakdown.attribution == "all_events":
        for person, evs in people.items():
            by_value: dict[tuple[str, ...], list[Ev]] = {}
            for ev in evs:
                by_value.setdefault(_value(ev, props), []).append(ev)
            for value, subset in by_value.items():
                result = _person(subset, steps, window_us, order, exclusions)
                if result is not None:
                    buckets.setdefault(value, {})[person] = result
    else:
        for person, result in results.items():
            if breakdown.attribution == "step":
                if result.furthest < breakdown.step:
                    continue
                value = _value(result.step_events[breakdown.step], props)
            else:
                ordered = _sorted(people[person], steps)
                touched = [
                    _value(ev, props)
                    for ev in ordered
                    if any(matches(s, ev) for s in steps) and any(_value(ev, props))
                ]
                if not touched:
                    value = empty
                elif breakdown.attribution == "first_touch":
                    value = touched[0]
                else:
                    value = touched[-1]
            buckets.setdefault(value, {})[person] = result
    rows = [{"value": list(v), "steps": _figures(r, steps)} for v, r in buckets.items()]
    rows.sort(
        key=lambda row: (-row["steps"][0]["count"], json.dumps(row["value"], separators=(",", ":")))
    )
    document["breakdown"] = rows
    return document
