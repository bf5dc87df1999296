"""The monthly journey review as Markdown: where we lose people, what changed, who acts.

One section per persona view (``"all"`` first): the stages losing the most people, the
significant changes since the previous snapshot, the KPI targets missed with their owners, and
the opportunities ranked by persons lost x value per conversion. A first section ranks the
opportunities of every persona together, which is where a per-persona value per conversion
matters.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Final

from journey_mining.journey_map.document import ALL

__all__ = ["render_review"]

JsonDict = dict[str, Any]
ValuePerConversion = float | Mapping[str, float]

DASH: Final = "\u2013"
_KPI_LABELS: Final = {
    "conversion_to_next": "conversion to next stage",
    "drop_off_rate": "drop-off rate",
    "median_time_to_next": "median time to next stage",
    "p90_time_to_next": "p90 time to next stage",
    "csat_mean": "CSAT",
    "nps": "NPS",
    "ticket_rate_per_100": "tickets per 100",
}
_OPS: Final = {"gte": "\u2265", "lte": "\u2264", "gt": ">", "lt": "<"}


def _count(value: Any) -> str:
    return DASH if value is None else f"{int(value):,}"


def _pct(value: Any) -> str:
    return DASH if value is None else f"{100 * float(value):.1f}%"


def _hours(value: Any) -> str:
    if value is None:
        return DASH
    hours = float(value)
    return f"{hours / 24:.1f} d" if hours >= 48 else f"{hours:.1f} h"


def _cell(text: object) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _kpi_value(kpi: Mapping[str, Any], value: Any) -> str:
    if value is None:
        return DASH
    if kpi["unit"] == "share":
        return _pct(value)
    if kpi["unit"] == "seconds":
        return _hours(float(value) / 3600)
    return f"{float(value):.2f}"


def _value(value_per_conversion: ValuePerConversion | None, doc: Mapping[str, Any]) -> float:
    if value_per_conversion is None:
        return float(doc["settings"]["value_per_conversion"])
    if isinstance(value_per_conversion, Mapping):
        default = value_per_conversion.get(ALL, 1.0)
        return float(value_per_conversion.get(doc["persona"]["id"], default))
    return float(value_per_conversion)


def _significant(change: Mapping[str, Any], alpha: float, min_n: int) -> bool:
    p_value = change["p_value"]
    return bool(
        p_value is not None
        and p_value < alpha
        and change["current"]["n"] >= min_n
        and change["previous"]["n"] >= min_n
    )


def _losing_stages(doc: Mapping[str, Any], top: int) -> list[str]:
    stages = [s for s in doc["stages"] if s["funnel"] and s["funnel"]["lost_here"] > 0]
    stages.sort(key=lambda s: (-s["funnel"]["lost_here"], s["position"] or 0))
    lines = []
    for rank, stage in enumerate(stages[:top], start=1):
        funnel = stage["funnel"]
        conversion = funnel["conversion"]
        converts = (
            f"; converts to the next stage {_pct(conversion['rate'])} "
            f"(95% CI {_pct(conversion['low'])}{DASH}{_pct(conversion['high'])}, "
            f"n = {_count(conversion['n'])})"
            if conversion and conversion["rate"] is not None
            else ""
        )
        drop_off = funnel["drop_off"]
        owner = f" ({stage['owner']})" if stage["owner"] else ""
        of = (
            f" of {_count(drop_off['n'])} who reached it and are no longer in progress there "
            f"({_pct(drop_off['rate'])})"
            if drop_off
            else ""
        )
        lines.append(
            f"{rank}. **{stage['name']}**{owner}: {_count(funnel['lost_here'])} lost{of}{converts}"
        )
    return lines or ["No stage has lost anyone whose window has closed."]


def _change_lines(doc: Mapping[str, Any], alpha: float, min_n: int) -> tuple[list[str], int]:
    comparison = doc["comparison"]
    if comparison["status"] != "compared":
        return [], 0
    names = {s["id"]: s["name"] for s in doc["stages"]}
    every = [*comparison["changes"], *(c for s in doc["stages"] for c in s["changes"])]
    lines = []
    for change in every:
        if not _significant(change, alpha, min_n):
            continue
        what = (
            "Overall conversion"
            if change["stage_id"] is None
            else f"{names.get(change['stage_id'], change['stage_id'])} \u2192 next stage"
        )
        delta = change["delta"]
        direction = "up" if delta > 0 else "down"
        lines.append(
            f"- {what}: {_pct(change['previous']['rate'])} \u2192 "
            f"{_pct(change['current']['rate'])} ({direction} {abs(100 * delta):.1f} pts; "
            f"p = {change['p_value']:.3f}; n = {_count(change['previous']['n'])} \u2192 "
            f"{_count(change['current']['n'])})"
        )
    return lines, len(every)


def _kpi_misses(doc: Mapping[str, Any], min_n: int) -> list[str]:
    rows = []
    for stage in doc["stages"]:
        for kpi in stage["kpis"]:
            if kpi["status"] != "missed":
                continue
            target = f"{_OPS[kpi['op']]} {_kpi_value(kpi, kpi['target_value'])}"
            small = kpi["n"] is not None and kpi["n"] < min_n
            n = f"{_count(kpi['n'])}{' (small sample)' if small else ''}"
            rows.append(
                f"| {_cell(stage['name'])} | {_cell(kpi['owner'] or DASH)} | "
                f"{_KPI_LABELS.get(kpi['metric'], kpi['metric'])} | {target} | "
                f"{_kpi_value(kpi, kpi['actual'])} | {n} |"
            )
    if not rows:
        return ["No KPI target missed."]
    return ["| Stage | Owner | KPI | Target | Actual | n |", "|---|---|---|---|---|---|", *rows]


def _opportunity_rows(doc: Mapping[str, Any], value: float) -> list[JsonDict]:
    rows = [
        {**item, "persona": doc["persona"]["name"], "value_at_stake": item["persons_lost"] * value}
        for item in doc["opportunities"]
    ]
    rows.sort(key=lambda o: (-o["value_at_stake"], -o["persons_lost"], o["stage_id"]))
    return rows


def _opportunity_table(rows: Sequence[JsonDict], *, persona: bool, limit: int) -> list[str]:
    if not rows:
        return ["No stage loses anyone yet."]
    head = "| # | " + ("Persona | " if persona else "") + "Stage | Owner | Lost | Value at stake "
    head += "| Ideas (journey model) | KPIs missed |"
    lines = [head, "|---" * (head.count("|") - 1) + "|"]
    for rank, item in enumerate(rows[:limit], start=1):
        ideas = "; ".join(item["ideas"]) or DASH
        misses = ", ".join(_KPI_LABELS.get(m, m) for m in item["kpi_misses"]) or DASH
        who = f"{_cell(item['persona'])} | " if persona else ""
        lines.append(
            f"| {rank} | {who}{_cell(item['stage_name'])} | {_cell(item['owner'] or DASH)} | "
            f"{_count(item['persons_lost'])} | {item['value_at_stake']:,.0f} | {_cell(ideas)} | "
            f"{_cell(misses)} |"
        )
    return lines


def render_review(
    documents: Sequence[Mapping[str, Any]],
    *,
    alpha: float | None = None,
    min_n: int | None = None,
    value_per_conversion: ValuePerConversion | None = None,
    top_stages: int = 3,
    top_opportunities: int = 10,
) -> str:
    """Render the monthly journey review of one journey and period as Markdown.

    Parameters
    ----------
    documents
        The period's journey map documents, one per persona view (as
        :func:`~journey_mining.journey_map.document.build_journey_maps` returns them).
    alpha, min_n
        A change is listed when its two-proportion test gives ``p < alpha`` and both samples
        have at least ``min_n`` attempts (default: the documents' settings).
    value_per_conversion
        The value of one conversion, or a mapping persona id -> value (``"all"`` is the
        default); opportunities rank by persons lost x value (default: the documents').
    top_stages
        How many of the stages losing the most people to list per persona.
    top_opportunities
        How many opportunities to list across personas.

    Returns
    -------
    str
        The review, ``review.md``.
    """
    docs = list(documents)
    if not docs:
        msg = "render_review needs at least one document"
        raise ValueError(msg)
    periods = {(d["journey"]["id"], d["period"]["month"]) for d in docs}
    if len(periods) != 1:
        msg = f"one review covers one journey and period, got {sorted(periods)}"
        raise ValueError(msg)
    docs.sort(key=lambda d: d["persona"]["id"] != ALL)
    first = docs[0]
    alpha = first["settings"]["alpha"] if alpha is None else alpha
    min_n = first["settings"]["min_n"] if min_n is None else min_n
    journey, period, comparison = first["journey"], first["period"], first["comparison"]
    as_of = (period["as_of"] or DASH).replace("T", " ")[:16]
    source = (
        f"snapshot of {period['snapshot_date']}"
        if period["source"] == "snapshot"
        else "live tables"
    )
    out = [
        f"# Journey review: {journey['name']}, {period['month']}",
        "",
        f"As of {as_of} UTC; figures from the {source}; stage figures for entry cohort "
        f"`{period['cohort']}`.",
    ]
    if comparison["status"] == "compared":
        out.append(
            f"Changes compare matured entry cohorts: {comparison['cohort']} (this period) against "
            f"{comparison['previous_cohort']} (snapshot {comparison['previous_month']} of "
            f"{comparison['previous_snapshot_date']}). Significant: two-proportion z-test "
            f"p < {alpha} and both n \u2265 {min_n}."
        )
        if comparison["model_changed"]:
            out.append("**The journey model changed between the two snapshots.**")
    else:
        reasons = {
            "no_previous_snapshot": "there is no earlier snapshot",
            "no_matured_cohort": "one of the periods has no matured entry cohort",
            "no_newer_cohort": "no entry cohort matured since the previous snapshot",
        }
        out.append(f"No changes are compared: {reasons[comparison['status']]}.")
    personas = [d for d in docs if d["persona"]["id"] != ALL]
    if personas:
        rows = [r for d in personas for r in _opportunity_rows(d, _value(value_per_conversion, d))]
        rows.sort(key=lambda o: (-o["value_at_stake"], -o["persons_lost"], o["stage_id"]))
        out += [
            "",
            "## Opportunities across personas",
            "",
            "Ranked by persons lost \u00d7 value per conversion.",
            "",
            *_opportunity_table(rows, persona=True, limit=top_opportunities),
        ]
    tested = 0
    for doc in docs:
        changes, count = _change_lines(doc, alpha, min_n)
        tested += count
        persona = doc["persona"]
        summary = doc["summary"]
        overall = summary["overall_conversion"]
        out += [
            "",
            f"## {persona['name']}",
            "",
            f"{_count(summary['entered'])} entered; {_count(summary['converted'])} converted "
            f"({_pct(overall['rate'] if overall else None)} of those decided); "
            f"{_count(summary['in_progress'])} still in progress; {_count(summary['lost'])} lost.",
            "",
            f"### The {top_stages} stages losing the most people",
            "",
            *_losing_stages(doc, top_stages),
            "",
            f"### Significant changes since {comparison['previous_month'] or 'last period'}",
            "",
            *(
                changes
                or [
                    "None."
                    if doc["comparison"]["status"] == "compared"
                    else "Not compared (see above)."
                ]
            ),
            "",
            "### KPI targets missed",
            "",
            *_kpi_misses(doc, min_n),
            "",
            "### Opportunities",
            "",
            *_opportunity_table(
                _opportunity_rows(doc, _value(value_per_conversion, doc)),
                persona=False,
                limit=top_opportunities,
            ),
        ]
    if tested:
        out += [
            "",
            f"_{tested} changes were tested; at p < {alpha} about {tested * alpha:.1f} would "
            "be flagged by chance alone, so read a single flag with care._",
        ]
    return "\n".join(out) + "\n"
