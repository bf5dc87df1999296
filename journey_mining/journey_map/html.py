"""The journey map as one self-contained HTML page: stages left to right, layers top to bottom.

Every persona x period document is rendered into the page as its own view (so the page works
without JavaScript and prints), and all documents are embedded as JSON; a few lines of inline
JavaScript switch views from the persona and period selectors and from the URL hash
(``#persona=developer&period=2026-10``). Nothing is loaded from anywhere: CSS, script and
pictures (inline SVG) are in the file. Hovering a figure shows its n and 95% interval.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from html import escape
from pathlib import Path
from typing import Any, Final

__all__ = ["SvgSource", "render_html"]

JsonDict = dict[str, Any]
SvgSource = str | os.PathLike[str]

_CHANNEL_COLOURS: Final = {
    "web": "#4e79a7",
    "app": "#59a14f",
    "email": "#f28e2b",
    "sales": "#b07aa1",
    "support": "#e15759",
    "survey": "#76b7b2",
}
_OTHER_COLOUR: Final = "#9c9c9c"
_PAIN_LABELS: Final = {
    "drop_off": "Drop-off",
    "stall": "Median time to next",
    "loops": "Loop back",
    "skips": "Skipped",
    "tickets": "Tickets / 100",
}
_KPI_LABELS: Final = {
    "conversion_to_next": "Conversion to next",
    "drop_off_rate": "Drop-off rate",
    "median_time_to_next": "Median time to next",
    "p90_time_to_next": "p90 time to next",
    "csat_mean": "CSAT",
    "nps": "NPS",
    "ticket_rate_per_100": "Tickets / 100",
}
DASH: Final = "\u2013"
_OPS: Final = {"gte": "≥", "lte": "≤", "gt": ">", "lt": "<"}

_CSS: Final = """
:root { --ink:#1f2430; --muted:#6b7280; --line:#d9dde3; --soft:#f5f6f8; --accent:#2f5d9b;
  --bad:#c0392b; --good:#1e7b46; --warn:#b7791f; }
* { box-sizing: border-box; }
body { margin: 0; font: 13px/1.4 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif;
  color: var(--ink); background: #fff; }
header.top { display: flex; justify-content: space-between; align-items: flex-start; gap: 24px;
  padding: 16px 24px; border-bottom: 1px solid var(--line); background: var(--soft); }
header.top h1 { margin: 0 0 4px; font-size: 22px; }
header.top p { margin: 2px 0; max-width: 900px; }
.controls { display: flex; gap: 16px; align-items: center; white-space: nowrap; }
.controls select, .controls button { font: inherit; padding: 4px 8px; }
main { padding: 12px 24px 32px; }
.muted { color: var(--muted); }
.view > h2 { margin: 8px 0 4px; font-size: 18px; }
.meta { display: flex; flex-wrap: wrap; gap: 6px 24px; margin: 4px 0 12px; color: var(--muted); }
.summary { display: flex; gap: 12px; margin: 8px 0 16px; flex-wrap: wrap; }
.summary .card { border: 1px solid var(--line); border-radius: 6px; padding: 8px 14px;
  min-width: 150px; }
.summary .card b { display: block; font-size: 20px; }
table.map { width: 100%; border-collapse: collapse; table-layout: fixed; }
table.map th, table.map td { border: 1px solid var(--line); padding: 6px 8px; vertical-align: top;
  overflow-wrap: anywhere; }
table.map thead th { background: var(--accent); color: #fff; text-align: left; font-size: 14px; }
table.map thead th .owner { display: block; font-weight: normal; font-size: 11px; opacity: .85; }
table.map th.layer { width: 150px; background: var(--soft); color: var(--ink); text-align: left;
  font-size: 12px; }
table.map col.layer { width: 150px; }
ul.plain { margin: 0; padding-left: 16px; }
ul.plain li { margin: 1px 0; }
.quote { font-style: italic; }
.small { font-size: 11px; }
.bar { height: 14px; background: var(--soft); border-radius: 3px; overflow: hidden;
  display: flex; margin: 2px 0 4px; }
.bar span { display: block; height: 100%; }
.fill { background: var(--accent); }
.fill.progress { background: #9db7da; }
.fill.lost { background: var(--bad); }
.legend { line-height: 1.6; }
.swatch { display: inline-block; width: 9px; height: 9px; border-radius: 2px;
  margin: 0 3px 0 0; vertical-align: middle; }
.legend .item { white-space: nowrap; margin-right: 6px; }
.fig { border-bottom: 1px dotted var(--muted); cursor: help; }
.badge { display: inline-block; border-radius: 3px; padding: 0 5px; font-size: 11px;
  font-weight: 600; color: #fff; }
.badge.met { background: var(--good); } .badge.missed { background: var(--bad); }
.badge.no_data { background: var(--muted); } .badge.sig { background: var(--warn); }
.hot { color: var(--bad); font-weight: 600; }
td.emotion-cell { padding: 0; }
svg.emotion { display: block; width: 100%; height: 120px; }
.grid2 { display: grid; grid-template-columns: 1fr 1fr; gap: 24px; margin-top: 20px; }
table.list { width: 100%; border-collapse: collapse; }
table.list th, table.list td { border-bottom: 1px solid var(--line); padding: 4px 6px;
  text-align: left; vertical-align: top; }
table.list td.num, table.list th.num { text-align: right; font-variant-numeric: tabular-nums; }
h3 { margin: 20px 0 6px; font-size: 15px; }
.process svg { width: 100%; height: auto; max-height: 460px; }
.note { color: var(--muted); font-size: 11px; margin-top: 24px; }
#no-view { padding: 24px; }
@media print {
  @page { size: A3 landscape; margin: 10mm; }
  header.top .controls { display: none; }
  .view[hidden] { display: none !important; }
  body { font-size: 10px; }
  table.map tr, .grid2 > div { break-inside: avoid; }
}
"""

_JS: Final = """
(function () {
  var views = Array.prototype.slice.call(document.querySelectorAll('section.view'));
  var persona = document.getElementById('persona-select');
  var period = document.getElementById('period-select');
  var empty = document.getElementById('no-view');
  function parse() {
    var out = {};
    location.hash.replace(/^#/, '').split('&').forEach(function (part) {
      var at = part.indexOf('=');
      if (at > 0) {
        out[decodeURIComponent(part.slice(0, at))] = decodeURIComponent(part.slice(at + 1));
      }
    });
    return out;
  }
  function show(p, q) {
    var found = false;
    views.forEach(function (view) {
      var on = view.getAttribute('data-persona') === p && view.getAttribute('data-period') === q;
      if (on) { view.removeAttribute('hidden'); found = true; }
      else { view.setAttribute('hidden', ''); }
    });
    empty.hidden = found;
    persona.value = p; period.value = q;
    document.body.setAttribute('data-persona', p);
    document.body.setAttribute('data-period', q);
  }
  function fromHash() {
    var wanted = parse();
    show(wanted.persona || persona.getAttribute('data-default'),
         wanted.period || period.getAttribute('data-default'));
  }
  function toHash() {
    location.hash = 'persona=' + encodeURIComponent(persona.value) +
      '&period=' + encodeURIComponent(period.value);
  }
  persona.addEventListener('change', toHash);
  period.addEventListener('change', toHash);
  window.addEventListener('hashchange', fromHash);
  document.getElementById('download-json').addEventListener('click', function () {
    var data = JSON.parse(document.getElementById('journey-map-data').textContent);
    var doc = data.documents.filter(function (d) {
      return d.persona.id === persona.value && d.period.month === period.value;
    })[0];
    var blob = new Blob([JSON.stringify(doc, null, 2)], {type: 'application/json'});
    var link = document.createElement('a');
    link.href = URL.createObjectURL(blob);
    link.download = 'journey_map_' + persona.value + '_' + period.value + '.json';
    link.click();
  });
  fromHash();
})();
"""


def _e(value: object) -> str:
    return escape("" if value is None else str(value), quote=True)


def _count(value: Any) -> str:
    return "\u2013" if value is None else f"{int(value):,}"


def _pct(value: Any, digits: int = 1) -> str:
    return "\u2013" if value is None else f"{100 * float(value):.{digits}f}%"


def _num(value: Any, digits: int = 2) -> str:
    return "\u2013" if value is None else f"{float(value):.{digits}f}"


def _hours(value: Any) -> str:
    if value is None:
        return "\u2013"
    hours = float(value)
    if hours >= 48:
        return f"{hours / 24:.1f} d"
    if hours >= 1:
        return f"{hours:.1f} h"
    return f"{hours * 60:.0f} min"


def _fig(text: str, tip: str) -> str:
    return f'<span class="fig" title="{_e(tip)}">{_e(text)}</span>'


def _interval(low: Any, high: Any, fmt: Any = _pct) -> str:
    if low is None or high is None:
        return "no interval"
    return f"95% CI {fmt(low)}\u2013{fmt(high)}"


def _rate_fig(rate: JsonDict | None, label: str) -> str:
    if not rate or rate.get("rate") is None:
        return '<span class="muted">\u2013</span>'
    tip = (
        f"{label}: {_pct(rate['rate'])} = {_count(rate['successes'])} / {_count(rate['n'])}; "
        f"n = {_count(rate['n'])}; {_interval(rate['low'], rate['high'])}"
    )
    return _fig(_pct(rate["rate"]), tip)


def _measure_fig(measure: JsonDict | None, label: str, digits: int = 1) -> str:
    if not measure or measure.get("value") is None:
        n = measure["n"] if measure else 0
        return f'<span class="muted" title="{_e(label)}: no data (n = {_count(n)})">\u2013</span>'

    def fmt(v: Any) -> str:
        return _num(v, digits)

    tip = (
        f"{label}: {fmt(measure['value'])}; n = {_count(measure['n'])}; "
        f"{_interval(measure['low'], measure['high'], fmt)}"
    )
    return _fig(fmt(measure["value"]), tip)


def _list(items: Iterable[str], css: str = "plain") -> str:
    rows = "".join(f"<li>{_e(item)}</li>" for item in items)
    return f'<ul class="{css}">{rows}</ul>' if rows else '<span class="muted">\u2013</span>'


def _channel_colour(channel: str | None) -> str:
    return _CHANNEL_COLOURS.get(channel or "", _OTHER_COLOUR)


def _channels_cell(stage: JsonDict) -> str:
    channels = stage["channels"]
    if not channels["mix"]:
        return '<span class="muted">no activities</span>'
    parts, legend = [], []
    for item in channels["mix"]:
        tip = (
            f"{item['channel']}: {_pct(item['share'])} of {_count(channels['activities'])} "
            f"activities (n = {_count(item['activities'])}; {_count(item['persons'])} persons)"
        )
        colour = _channel_colour(item["channel"])
        parts.append(
            f'<span style="width:{100 * float(item["share"]):.2f}%;background:{colour}" '
            f'title="{_e(tip)}"></span>'
        )
        legend.append(
            f'<span class="item"><span class="swatch" style="background:{colour}"></span>'
            + _fig(f"{item['channel']} {_pct(item['share'], 0)}", tip)
            + "</span>"
        )
    return (
        f'<div class="bar">{"".join(parts)}</div><div class="legend small">{"".join(legend)}</div>'
    )


def _actions_cell(stage: JsonDict) -> str:
    modelled = _list(stage["layers"]["actions"])
    measured = "".join(
        "<li>"
        + _fig(
            f"{action['event']} {_pct(action['share'], 0)}",
            f"{action['event']}: {_count(action['activities'])} activities "
            f"({_pct(action['share'])} of the stage's), {_count(action['persons'])} persons",
        )
        + "</li>"
        for action in stage["top_actions"]
    )
    top = f'<ul class="plain small">{measured}</ul>' if measured else ""
    return f'{modelled}<div class="small muted">Top actions (measured)</div>{top}'


def _funnel_cell(stage: JsonDict, entered: int) -> str:
    funnel = stage["funnel"]
    if not funnel:
        return '<span class="muted">not in the designed path</span>'
    base = max(entered, 1)
    reached = funnel["reached"]
    width = 100 * reached / base
    lost = 100 * funnel["lost_here"] / base
    progress = 100 * (funnel["in_progress"] or 0) / base
    bar = (
        f'<div class="bar" title="{_e(f"reached in order: {reached:,} of {entered:,} entered")}">'
        f'<span class="fill" style="width:{max(width - lost - progress, 0):.2f}%"></span>'
        f'<span class="fill progress" style="width:{progress:.2f}%"></span>'
        f'<span class="fill lost" style="width:{lost:.2f}%"></span></div>'
    )
    reach_tip = (
        f"reached in order: {reached:,}; visited at all (milestone): {funnel['reached_any']:,}; "
        f"of {entered:,} entered"
    )
    rows = [
        f"Reached {_fig(_count(reached), reach_tip)}"
        f' <span class="small muted">(any order {_count(funnel["reached_any"])})</span>',
    ]
    if funnel["conversion"] is not None:
        rows.append(f"Converts {_rate_fig(funnel['conversion'], 'conversion to next stage')}")
        rows.append(
            f"Dropped {_count(funnel['dropped'])} · in progress {_count(funnel['in_progress'])}"
        )
    drop_off = funnel["drop_off"]
    lost_tip = "lost here: furthest stage, window closed" + (
        f"; {100 * drop_off['rate']:.1f}% of the {drop_off['n']:,} who visited and are no longer"
        " in progress there"
        if drop_off
        else ""
    )
    rows.append(f'<span class="hot">Lost here {_fig(_count(funnel["lost_here"]), lost_tip)}</span>')
    return bar + "<br>".join(rows)


def _timing_cell(stage: JsonDict) -> str:
    timing = stage["time_to_next"]
    if not timing:
        return '<span class="muted">final stage</span>' if stage["is_final"] else "\u2013"
    n = timing["converters"]
    median = _fig(_hours(timing["median_hours"]), f"median among {n:,} who converted")
    p90 = _fig(_hours(timing["p90_hours"]), f"90th percentile among {n:,} who converted")
    km = _fig(
        _hours(timing["km_median_hours"]),
        f"Kaplan-Meier median counting the censored, n = {_count(timing['km_n'])}"
        + ("" if timing["km_median_hours"] is not None else "; fewer than half get there"),
    )
    stall = _fig(
        _hours(timing["dropoff_median_hours_in_stage"]),
        f"median time in stage before leaving, n = {_count(timing['dropoffs'])}",
    )
    return (
        f"Median {median} · p90 {p90}<br>KM median {km}<br>"
        f'<span class="small muted">n = {_count(n)} · before leaving {stall}</span>'
    )


def _sentiment_cell(stage: JsonDict) -> str:
    sentiment = stage["sentiment"]
    return (
        f"NPS {_measure_fig(sentiment['nps'], 'NPS', 0)} · "
        f"CSAT {_measure_fig(sentiment['csat'], 'CSAT', 2)} · "
        f"CES {_measure_fig(sentiment['ces'], 'CES', 2)}<br>"
        f"Tickets / 100 {_measure_fig(sentiment['tickets_per_100'], 'tickets per 100', 1)}"
    )


def _pain_cell(stage: JsonDict) -> str:
    measured = []
    for pain in stage["pain_points"]:
        value = (
            _hours(pain["value"])
            if pain["kind"] == "stall"
            else (_num(pain["value"], 1) if pain["unit"] == "per 100" else _pct(pain["value"]))
        )
        tip = f"{_PAIN_LABELS[pain['kind']]}: {value}; n = {_count(pain['n'])}"
        if pain["count"] is not None:
            tip += f"; {_count(pain['count'])} persons"
        text = _fig(f"{_PAIN_LABELS[pain['kind']]} {value}", tip)
        measured.append(f'<li class="hot">{text} ▲</li>' if pain["hotspot"] else f"<li>{text}</li>")
    return (
        _list(stage["layers"]["pain_points"])
        + '<div class="small muted">Measured</div>'
        + f'<ul class="plain small">{"".join(measured)}</ul>'
    )


def _kpi_format(kpi: JsonDict) -> Callable[[Any], str]:
    def fmt(value: Any) -> str:
        if value is None:
            return "\u2013"
        if kpi["unit"] == "share":
            return _pct(value)
        if kpi["unit"] == "seconds":
            return _hours(float(value) / 3600)
        return _num(value, 2)

    return fmt


def _kpi_line(kpi: JsonDict) -> str:
    fmt = _kpi_format(kpi)
    actual, target = fmt(kpi["actual"]), fmt(kpi["target_value"])
    label = _KPI_LABELS.get(kpi["metric"], kpi["metric"])
    tip = (
        f"{label}: actual {actual} vs target {_OPS[kpi['op']]} {target}; "
        f"n = {_count(kpi['n'])}; {_interval(kpi['low'], kpi['high'], fmt)}"
    )
    status = kpi["status"].replace("_", " ")
    return (
        f"<li>{_e(label)} {_OPS[kpi['op']]} {_e(target)}: "
        f'{_fig(actual, tip)} <span class="badge {kpi["status"]}">{_e(status)}</span></li>'
    )


def _opportunity_cell(stage: JsonDict) -> str:
    owner = stage["owner"] or "no owner"
    kpis = "".join(_kpi_line(k) for k in stage["kpis"])
    return (
        _list(stage["layers"]["opportunities"])
        + f'<div class="small">Owner: <b>{_e(owner)}</b></div>'
        + (f'<ul class="plain small">{kpis}</ul>' if kpis else "")
    )


def _change_line(change: JsonDict, comparison: JsonDict) -> str:
    delta = change["delta"]
    arrow = "\u2013" if delta is None else ("▲" if delta > 0 else ("▼" if delta < 0 else "="))
    points = "\u2013" if delta is None else f"{100 * delta:+.1f} pts"
    p_value = "\u2013" if change["p_value"] is None else f"{change['p_value']:.3f}"
    tip = (
        f"cohort {comparison['cohort']}: {_pct(change['current']['rate'])} "
        f"(n = {_count(change['current']['n'])}) vs cohort {comparison['previous_cohort']}: "
        f"{_pct(change['previous']['rate'])} (n = {_count(change['previous']['n'])}); "
        f"two-proportion z-test p = {p_value}"
    )
    badge = '<span class="badge sig">significant</span>' if change["significant"] else ""
    return f"{_fig(f'{arrow} {points}', tip)} {badge}"


def _changes_cell(stage: JsonDict, comparison: JsonDict) -> str:
    if comparison["status"] != "compared":
        return '<span class="muted">\u2013</span>'
    lines = [_change_line(c, comparison) for c in stage["changes"]]
    return "<br>".join(lines) if lines else '<span class="muted">\u2013</span>'


def _emotion_svg(stages: Sequence[JsonDict]) -> str:
    width = 100 * len(stages)

    def y(score: float) -> float:
        return 60 - 25 * max(-2.0, min(2.0, score))

    def polyline(points: Sequence[tuple[float, float]], css: str) -> str:
        if len(points) < 2:
            return ""
        coords = " ".join(f"{px:.1f},{py:.1f}" for px, py in points)
        return f'<polyline points="{coords}" fill="none" {css} vector-effect="non-scaling-stroke"/>'

    def dot(px: float, py: float, colour: str, tip: str) -> str:
        return (
            f'<line x1="{px:.1f}" y1="{py:.1f}" x2="{px:.1f}" y2="{py:.1f}" stroke="{colour}" '
            'stroke-width="9" stroke-linecap="round" vector-effect="non-scaling-stroke">'
            f"<title>{_e(tip)}</title></line>"
        )

    expected: list[tuple[float, float]] = []
    measured: list[list[tuple[float, float]]] = [[]]
    dots: list[str] = []
    for i, stage in enumerate(stages):
        x = 100 * i + 50
        emotion = stage["layers"]["emotion"]
        if emotion is not None:
            expected.append((x, y(emotion["score"])))
            tip = f"{stage['name']}: expected {emotion['label']} ({emotion['score']:+d})"
            dots.append(dot(x, y(emotion["score"]), "#8a8f98", tip))
        found = stage["measured_emotion"]
        if found is None:
            measured.append([])
        else:
            measured[-1].append((x, y(found["score"])))
            source = found["source"].upper()
            tip = (
                f"{stage['name']}: measured {source} {_num(found['value'], 2)} "
                f"(score {found['score']:+.2f}), n = {_count(found['n'])}"
            )
            dots.append(dot(x, y(found["score"]), "#2f5d9b", tip))
    grid = "".join(
        f'<line x1="0" x2="{width}" y1="{y(level)}" y2="{y(level)}" stroke="#e6e8ec" '
        f'vector-effect="non-scaling-stroke"/>'
        for level in (-2, -1, 1, 2)
    )
    zero = (
        f'<line x1="0" x2="{width}" y1="60" y2="60" stroke="#b8bdc6" stroke-dasharray="2 3" '
        'vector-effect="non-scaling-stroke"/>'
    )
    return (
        f'<svg class="emotion" viewBox="0 0 {width} 120" preserveAspectRatio="none" '
        'role="img" aria-label="Expected and measured emotion per stage">'
        + grid
        + zero
        + polyline(expected, 'stroke="#8a8f98" stroke-width="2" stroke-dasharray="6 4"')
        + "".join(polyline(run, 'stroke="#2f5d9b" stroke-width="3"') for run in measured)
        + "".join(dots)
        + "</svg>"
    )


def _emotion_labels(stage: JsonDict) -> str:
    emotion = stage["layers"]["emotion"]
    expected = (
        f"Expected: <b>{_e(emotion['label'])}</b> ({emotion['score']:+d})"
        if emotion
        else '<span class="muted">no expected emotion</span>'
    )
    found = stage["measured_emotion"]
    measured = (
        "Measured: "
        + _fig(
            f"{found['source'].upper()} {_num(found['value'], 2)}",
            f"{found['source'].upper()} {_num(found['value'], 2)}, n = {_count(found['n'])}; "
            f"on the -2..2 scale {found['score']:+.2f}",
        )
        if found
        else '<span class="muted">no survey answers</span>'
    )
    return f'<span class="small">{expected}<br>{measured}</span>'


def _map_table(doc: JsonDict) -> str:
    stages = doc["stages"]
    entered = doc["summary"]["entered"]
    comparison = doc["comparison"]
    head = "".join(
        f'<th data-stage="{_e(s["id"])}">{_e(s["position"] or "")}. {_e(s["name"])}'
        f'<span class="owner">{_e(s["owner"] or "")}</span></th>'
        for s in stages
    )
    cols = '<col class="layer">' + "<col>" * len(stages)

    def row(label: str, cells: Iterable[str], css: str = "") -> str:
        body = "".join(f"<td>{cell}</td>" for cell in cells)
        return f'<tr class="{css}"><th class="layer">{_e(label)}</th>{body}</tr>'

    changes_label = (
        f"Change vs {comparison['previous_month']} (cohort {comparison['cohort']} vs "
        f"{comparison['previous_cohort']})"
        if comparison["status"] == "compared"
        else "Change vs previous period"
    )
    rows = [
        row("Actions", (_actions_cell(s) for s in stages)),
        row("Touchpoints / channels", (_channels_cell(s) for s in stages)),
        row("Thoughts", (_list(s["layers"]["thoughts"], "plain quote") for s in stages)),
        '<tr><th class="layer">Emotion<br><span class="small muted">dashed: expected<br>'
        f'solid: measured</span></th><td class="emotion-cell" colspan="{len(stages)}">'
        f"{_emotion_svg(stages)}</td></tr>",
        row("", (_emotion_labels(s) for s in stages)),
        row("Funnel", (_funnel_cell(s, entered) for s in stages)),
        row("Time to next stage", (_timing_cell(s) for s in stages)),
        row("Sentiment & tickets", (_sentiment_cell(s) for s in stages)),
        row("Pain points", (_pain_cell(s) for s in stages)),
        row("Opportunities, owner, KPIs", (_opportunity_cell(s) for s in stages)),
        row(changes_label, (_changes_cell(s, comparison) for s in stages)),
    ]
    return (
        f'<table class="map"><colgroup>{cols}</colgroup>'
        f'<thead><tr><th class="layer">Stage</th>{head}</tr></thead>'
        f"<tbody>{''.join(rows)}</tbody></table>"
    )


def _summary(doc: JsonDict) -> str:
    summary = doc["summary"]
    overall = summary["overall_conversion"]
    cards = [
        ("Entered the journey", _count(summary["entered"])),
        ("Converted (reached the last stage)", _count(summary["converted"])),
        ("Overall conversion", _rate_fig(overall, "overall conversion")),
        ("Still in progress", _count(summary["in_progress"])),
        ("Lost", _count(summary["lost"])),
    ]
    conformance = doc["conformance"]
    if conformance:
        cards.append(
            (
                "On the designed path",
                _fig(
                    _pct(conformance["on_designed_path_share"]),
                    f"attempts with no deviation so far: {_count(conformance['on_designed_path'])}"
                    f" of {_count(conformance['persons'])}; fitness {_num(conformance['fitness'])}",
                ),
            )
        )
    body = "".join(
        f'<div class="card"><span class="muted">{_e(t)}</span><b>{v}</b></div>' for t, v in cards
    )
    return f'<div class="summary">{body}</div>'


def _opportunities_table(doc: JsonDict) -> str:
    rows = []
    for item in doc["opportunities"]:
        ideas = "; ".join(item["ideas"]) or "\u2013"
        misses = ", ".join(_KPI_LABELS.get(m, m) for m in item["kpi_misses"]) or "\u2013"
        tip = f"{item['persons_lost']:,} lost of {item['n']:,} who reached the stage"
        rows.append(
            f"<tr><td class=num>{item['rank']}</td><td>{_e(item['stage_name'])}</td>"
            f"<td>{_e(item['owner'] or DASH)}</td>"
            f"<td class=num>{_fig(_count(item['persons_lost']), tip)}</td>"
            f"<td class=num>{item['value_at_stake']:,.0f}</td>"
            f"<td>{_e(ideas)}</td><td>{_e(misses)}</td></tr>"
        )
    value = doc["settings"]["value_per_conversion"]
    return (
        "<h3>Opportunities, ranked by persons lost \u00d7 value per conversion "
        f"({_num(value, 0)})</h3>"
        '<table class="list"><thead><tr><th class=num>#</th><th>Stage</th><th>Owner</th>'
        "<th class=num>Lost</th><th class=num>Value at stake</th><th>Ideas (model)</th>"
        f"<th>KPIs missed</th></tr></thead><tbody>{''.join(rows)}</tbody></table>"
    )


def _proportion(value: JsonDict) -> str:
    return f"{_pct(value['rate'])} <span class=muted>n={_count(value['n'])}</span>"


def _comparison_block(doc: JsonDict) -> str:
    comparison = doc["comparison"]
    reasons = {
        "no_previous_snapshot": "No earlier snapshot yet: changes appear from the next period.",
        "no_matured_cohort": "No matured entry cohort to compare in one of the two periods.",
        "no_newer_cohort": "No entry cohort has matured since the previous snapshot.",
    }
    if comparison["status"] != "compared":
        reason = reasons[comparison["status"]]
        return f"<h3>Changes since the previous period</h3><p class=muted>{reason}</p>"
    names = {s["id"]: s["name"] for s in doc["stages"]}
    rows = []
    every = [*comparison["changes"], *(c for s in doc["stages"] for c in s["changes"])]
    for change in every:
        what = (
            "Overall conversion"
            if change["stage_id"] is None
            else f"{names.get(change['stage_id'], change['stage_id'])} → next"
        )
        p_value = "\u2013" if change["p_value"] is None else f"{change['p_value']:.3f}"
        rows.append(
            f"<tr><td>{_e(what)}</td>"
            f"<td class=num>{_proportion(change['previous'])}</td>"
            f"<td class=num>{_proportion(change['current'])}</td>"
            f"<td class=num>{_change_line(change, comparison)}</td>"
            f"<td class=num>{p_value}</td></tr>"
        )
    model = (
        '<p class="small hot">The journey model changed between the two snapshots.</p>'
        if comparison["model_changed"]
        else ""
    )
    return (
        f"<h3>Changes: cohort {_e(comparison['cohort'])} (period {_e(doc['period']['month'])})"
        f" vs cohort {_e(comparison['previous_cohort'])}"
        f" (period {_e(comparison['previous_month'])})</h3>"
        f"{model}"
        '<table class="list"><thead><tr><th>Conversion</th><th class=num>Before</th>'
        "<th class=num>Now</th><th class=num>Change</th><th class=num>p</th></tr></thead>"
        f"<tbody>{''.join(rows)}</tbody></table>"
        f'<p class="small muted">Significant: two-proportion z-test p &lt; {comparison["alpha"]} '
        f"and both n ≥ {comparison['min_n']}.</p>"
    )


def _dfg_svg(doc: JsonDict) -> str:
    """Stages in designed order; forward edges arc above, backward below; starts and ends are
    short arrows into and out of a stage, each labelled with its count."""
    edges = [e for e in doc["dfg"] if e["transitions"]]
    if not edges:
        return '<p class="muted">No stage transitions.</p>'
    order = [s["id"] for s in doc["stages"]]
    for edge in edges:
        for node in (edge["source"], edge["target"]):
            if node not in order and not node.startswith("__"):
                order.append(node)
    names = {s["id"]: s["name"] for s in doc["stages"]}
    step, box_w, box_h = 170, 120, 34
    x = {node: 90 + i * step for i, node in enumerate(order)}
    inner = [e for e in edges if e["source"] in x and e["target"] in x]
    top = max(e["transitions"] for e in edges)

    def span(edge: JsonDict) -> int:
        return abs(order.index(edge["target"]) - order.index(edge["source"]))

    def lift(edge: JsonDict) -> float:
        return (
            0.0
            if span(edge) == 1 and x[edge["target"]] > x[edge["source"]]
            else 30 + 24 * span(edge)
        )

    above = max([lift(e) for e in inner if x[e["target"]] > x[e["source"]]] + [0.0])
    below = max([lift(e) for e in inner if x[e["target"]] < x[e["source"]]] + [0.0])
    mid = 70 + above + box_h / 2
    height = mid + box_h / 2 + max(below, 40) + 40
    width = 90 * 2 + step * (len(order) - 1)
    parts = [
        '<defs><marker id="dfg-arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="6" '
        'markerHeight="6" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" '
        'fill="#55606e"/></marker></defs>'
    ]

    def tip_of(edge: JsonDict) -> str:
        source = (
            "start" if edge["source"] == "__start__" else names.get(edge["source"], edge["source"])
        )
        target = "end" if edge["target"] == "__end__" else names.get(edge["target"], edge["target"])
        median = (
            ""
            if edge["median_seconds"] is None
            else f"; median {_hours(edge['median_seconds'] / 3600)}"
        )
        return (
            f"{source} \u2192 {target}: {edge['transitions']:,} transitions, "
            f"{edge['persons']:,} persons{median}"
        )

    def draw(edge: JsonDict, path: str, label_x: float, label_y: float) -> str:
        stroke = 1 + 7 * edge["transitions"] / top
        return (
            f'<g data-edge="{_e(edge["source"] + "->" + edge["target"])}">'
            f"<title>{_e(tip_of(edge))}</title>"
            f'<path d="{path}" fill="none" stroke="#55606e" stroke-opacity=".75" '
            f'stroke-width="{stroke:.1f}" marker-end="url(#dfg-arrow)"/>'
            f'<text x="{label_x:.0f}" y="{label_y:.0f}" font-size="11" text-anchor="middle" '
            f'fill="#1f2430">{edge["transitions"]:,}</text></g>'
        )

    for edge in sorted(edges, key=lambda e: -e["transitions"]):
        source, target = edge["source"], edge["target"]
        if source == "__start__" and target in x:
            cx = x[target] - box_w / 4
            path = f"M{cx},{mid - box_h / 2 - 34} L{cx},{mid - box_h / 2 - 2}"
            parts.append(draw(edge, path, cx, mid - box_h / 2 - 38))
        elif target == "__end__" and source in x:
            cx = x[source] + box_w / 4
            path = f"M{cx},{mid + box_h / 2} L{cx},{mid + box_h / 2 + 30}"
            parts.append(draw(edge, path, cx + 4, mid + box_h / 2 + 44))
        elif source in x and target in x:
            a, b = x[source], x[target]
            if b > a and span(edge) == 1:
                path = f"M{a + box_w / 2},{mid} L{b - box_w / 2},{mid}"
                parts.append(draw(edge, path, (a + b) / 2, mid - 6))
                continue
            sign = -1 if b > a else 1
            y0 = mid + sign * box_h / 2
            path = f"M{a},{y0} Q{(a + b) / 2},{y0 + 2 * sign * lift(edge)} {b},{y0}"
            label_y = y0 + sign * lift(edge) + (12 if sign > 0 else -4)
            parts.append(draw(edge, path, (a + b) / 2, label_y))
    for node in order:
        parts.append(
            f'<g data-node="{_e(node)}"><rect x="{x[node] - box_w / 2}" y="{mid - box_h / 2}" '
            f'width="{box_w}" height="{box_h}" rx="6" fill="#2f5d9b"/>'
            f'<text x="{x[node]}" y="{mid + 4}" font-size="12" text-anchor="middle" '
            f'fill="#ffffff">{_e(names.get(node, node))}</text></g>'
        )
    return (
        f'<svg viewBox="0 0 {width} {height:.0f}" role="img" '
        'aria-label="Directly-follows graph of the stages">' + "".join(parts) + "</svg>"
    )


_SVG_DROP: Final = (
    re.compile(r"<\?xml.*?\?>", re.S),
    re.compile(r"<!DOCTYPE.*?>", re.S | re.I),
    re.compile(r"<!--.*?-->", re.S),
    re.compile(r"<script\b.*?</script\s*>", re.S | re.I),
    re.compile(r"<foreignObject\b.*?</foreignObject\s*>", re.S | re.I),
    re.compile(r"\s+xmlns(:\w+)?\s*=\s*(\"[^\"]*\"|'[^']*')"),
    re.compile(r"\s+on\w+\s*=\s*(\"[^\"]*\"|'[^']*')", re.I),
    re.compile(r"\s+(xlink:)?href\s*=\s*(\"(?!#)[^\"]*\"|'(?!#)[^']*')", re.I),
)


def _inline_svg(source: SvgSource, prefix: str) -> str:
    text = str(source)
    if isinstance(source, os.PathLike) or not text.lstrip().startswith("<"):
        text = Path(source).read_text(encoding="utf-8")
    for pattern in _SVG_DROP:
        text = pattern.sub("", text)
    text = re.sub(r'\bid="([^"]+)"', lambda m: f'id="{prefix}{m.group(1)}"', text)
    text = re.sub(r"url\(#([^)]+)\)", lambda m: f"url(#{prefix}{m.group(1)})", text)
    text = re.sub(r'(<svg\b[^>]*?)\s(width|height)="[^"]*"', r"\1", text, count=2)
    return text.strip()


def _paths_table(doc: JsonDict) -> str:
    paths = doc["paths"]
    names = {s["id"]: s["name"] for s in doc["stages"]}
    rows = []
    for variant in paths["variants"]:
        label = " → ".join(names.get(s, s) for s in variant["stages"])
        tip = (
            f"{variant['persons']:,} persons ({_pct(variant['share'])}); converted "
            f"{variant['converted']:,}, dropped {variant['dropped']:,}, in progress "
            f"{variant['in_progress']:,}"
        )
        rows.append(
            f"<tr><td class=num>{variant['rank']}</td><td>{_e(label)}</td>"
            f"<td class=num>{_fig(_count(variant['persons']), tip)}</td>"
            f'<td style="width:30%"><div class="bar"><span class="fill" '
            f'style="width:{100 * variant["share"]:.2f}%"></span></div></td>'
            f"<td class=num>{_pct(variant['share'])}</td></tr>"
        )
    return (
        f"<h3>Top paths ({paths['distinct_variants']:,} distinct; "
        f"{paths['top_80_variants']} cover 80% of {paths['persons']:,} attempts)</h3>"
        '<table class="list"><thead><tr><th class=num>#</th><th>Stages</th>'
        "<th class=num>Persons</th><th></th><th class=num>Share</th></tr></thead>"
        f"<tbody>{''.join(rows)}</tbody></table>"
    )


def _lost_after_tip(deviation: JsonDict) -> str:
    decided = deviation["persons_affected"] - deviation["in_progress"]
    return (
        f"{_count(deviation['lost_after'])} lost of {_count(decided)} affected whose window "
        f"closed; {_count(deviation['in_progress'])} still in progress"
    )


def _deviations_table(doc: JsonDict) -> str:
    names = {s["id"]: s["name"] for s in doc["stages"]}
    rows = "".join(
        f"<tr><td>{_e(d['deviation'].replace('_', ' '))}</td>"
        f"<td>{_e(names.get(d['stage_id'], d['stage_id']))}</td>"
        f"<td class=num>{_count(d['persons_affected'])}</td>"
        f"<td class=num>{_fig(_pct(d['lost_share']), _lost_after_tip(d))}</td>"
        f"<td class=num>{_pct(d['unaffected_lost_share'])}</td></tr>"
        for d in doc["deviations"]
    )
    if not rows:
        return "<h3>Deviations from the designed path</h3><p class=muted>None.</p>"
    return (
        "<h3>Deviations from the designed path</h3>"
        '<table class="list"><thead><tr><th>Deviation</th><th>Stage</th>'
        "<th class=num>Persons</th><th class=num>Lost after</th>"
        f"<th class=num>Lost without it</th></tr></thead><tbody>{rows}</tbody></table>"
    )


def _as_of(value: str | None) -> str:
    if not value:
        return DASH
    return value.replace("T", " ")[:16] + " UTC"


def _view(doc: JsonDict, process_svg: str | None, hidden: bool) -> str:
    persona, period = doc["persona"], doc["period"]
    comparison = doc["comparison"]
    meta = [
        f"Period <b>{_e(period['month'])}</b>",
        f"as of {_e(_as_of(period['as_of']))}",
        f"entry cohort {_e(period['cohort'])}",
        f"figures: {_e(period['source'])}"
        + (f" of {_e(period['snapshot_date'])}" if period["snapshot_date"] else ""),
    ]
    if comparison["previous_month"]:
        meta.append(f"previous snapshot {_e(comparison['previous_month'])}")
    description = (
        f'<p class="muted">{_e(persona["description"])}</p>' if persona["description"] else ""
    )
    process = (
        f'<div class="process">{process_svg}</div>'
        if process_svg
        else f'<div class="process">{_dfg_svg(doc)}</div>'
    )
    process_title = (
        "Process model (discovered from the stage paths)"
        if process_svg
        else "Directly-follows graph of the stages: forward above, back below, "
        "entries from the top, exits at the bottom"
    )
    return (
        f'<section class="view" data-persona="{_e(persona["id"])}" '
        f'data-period="{_e(period["month"])}"{" hidden" if hidden else ""}>'
        f"<h2>{_e(persona['name'])}</h2>{description}"
        f'<div class="meta">{"<span>" + "</span><span>".join(meta) + "</span>"}</div>'
        f"{_summary(doc)}{_map_table(doc)}"
        f'<div class="grid2"><div>{_opportunities_table(doc)}</div>'
        f"<div>{_comparison_block(doc)}</div></div>"
        f"<h3>{process_title}</h3>{process}"
        f'<div class="grid2"><div>{_paths_table(doc)}</div>'
        f"<div>{_deviations_table(doc)}</div></div>"
        "</section>"
    )


def _script_json(data: object) -> str:
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def render_html(
    documents: Mapping[str, Any] | Sequence[Mapping[str, Any]],
    *,
    process_maps: Mapping[str, SvgSource] | None = None,
    title: str | None = None,
) -> str:
    """Render journey map documents as one self-contained HTML page.

    Parameters
    ----------
    documents
        One document of :func:`~journey_mining.journey_map.document.build_journey_map`, or
        several (personas x periods of one journey); each becomes a view of the page.
    process_maps
        Optional process model picture per persona id: SVG text or the path of an SVG file
        (as :func:`journey_mining.metrics.conformance.process_model_svg` writes). Inlined
        without scripts, external links or XML preamble. A persona without one gets the
        directly-follows graph drawn from its document.
    title
        The page title (default: the journey's name).

    Returns
    -------
    str
        The page. The view shown first is persona ``"all"`` (else the first) in the latest
        period; ``#persona=<id>&period=<YYYY-MM>`` in the URL selects another.
    """
    docs: list[Mapping[str, Any]] = (
        [documents] if isinstance(documents, Mapping) else list(documents)
    )
    if not docs:
        msg = "render_html needs at least one document"
        raise ValueError(msg)
    journeys = {d["journey"]["id"] for d in docs}
    if len(journeys) != 1:
        msg = f"one page shows one journey, got {sorted(journeys)}"
        raise ValueError(msg)
    personas: dict[str, str] = {}
    for doc in docs:
        for item in doc["personas"]:
            personas.setdefault(item["id"], item["name"])
        personas.setdefault(doc["persona"]["id"], doc["persona"]["name"])
    personas = {p: n for p, n in personas.items() if any(d["persona"]["id"] == p for d in docs)}
    periods = sorted({d["period"]["month"] for d in docs}, reverse=True)
    default_persona = "all" if "all" in personas else next(iter(personas))
    default_period = periods[0]
    svgs = {
        persona: _inline_svg(source, f"pm{i}-")
        for i, (persona, source) in enumerate((process_maps or {}).items())
    }
    views = "".join(
        _view(
            dict(doc),
            svgs.get(doc["persona"]["id"]),
            hidden=not (
                doc["persona"]["id"] == default_persona and doc["period"]["month"] == default_period
            ),
        )
        for doc in sorted(
            docs,
            key=lambda d: (list(personas).index(d["persona"]["id"]), d["period"]["month"]),
        )
    )
    first = docs[0]
    journey = first["journey"]
    persona_options = "".join(
        f'<option value="{_e(p)}"{" selected" if p == default_persona else ""}>{_e(n)}</option>'
        for p, n in personas.items()
    )
    period_options = "".join(
        f'<option value="{_e(p)}"{" selected" if p == default_period else ""}>{_e(p)}</option>'
        for p in periods
    )
    expectations = (
        f"<p><b>Expects:</b> {_e(' '.join(journey['expectations']))}</p>"
        if journey["expectations"]
        else ""
    )
    page_title = title or f"Journey map: {journey['name']}"
    note = (
        "Figures per entry cohort and persona from the journeymap pipeline. Rates carry their n "
        "and a 95% Wilson interval (hover a figure). Attempts still inside their window are "
        "in progress, never counted as lost, and left out of conversion. Changes compare matured "
        "entry cohorts between two dated snapshots with a two-proportion z-test. "
        f"Schema {_e(first['schema_version'])}, generated {_e(first['generated_at'])}."
    )
    data = {"schema_version": first["schema_version"], "documents": docs}
    return (
        "<!doctype html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{_e(page_title)}</title><style>{_CSS}</style></head>"
        "<body>"
        '<header class="top"><div>'
        f"<h1>{_e(journey['name'])}</h1>"
        f"<p><b>Actor:</b> {_e(journey['actor'])}</p>"
        f"<p><b>Scenario:</b> {_e(journey['scenario'])}</p>{expectations}</div>"
        '<div class="controls">'
        f'<label>Persona <select id="persona-select" data-default="{_e(default_persona)}">'
        f"{persona_options}</select></label>"
        f'<label>Period <select id="period-select" data-default="{_e(default_period)}">'
        f"{period_options}</select></label>"
        '<button type="button" id="download-json">JSON</button></div></header>'
        f'<main>{views}<p id="no-view" class="muted" hidden>No map for this persona and '
        f'period.</p><p class="note">{note}</p></main>'
        '<script type="application/json" id="journey-map-data">'
        f"{_script_json(data)}</script>"
        f"<script>{_JS}</script>"
        "</body></html>\n"
    )
