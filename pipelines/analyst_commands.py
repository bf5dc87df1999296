"""``journey funnel`` and ``journey mine``: the analyst commands that work on any event log.

``register(subparsers)`` adds both to the ``journey`` parser; each handler returns the exit
status and raises an exception with a one-line message for bad input (the CLI prints it as
``journey <cmd>: error: <message>``).
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import json
import sys
from pathlib import Path
from typing import Any

from journey_mining.eventlog import read_event_log
from journey_mining.journey_model.durations import parse_duration
from journey_mining.metrics.funnel import (
    ORDERS,
    FunnelSpec,
    FunnelSpecError,
    Step,
    funnel,
    load_funnel_spec,
)
from journey_mining.metrics.paths import traces

__all__ = ["register", "run_funnel", "run_mine"]

FUNNEL_DEFAULTS = {"person_col": "person_id", "event_col": "event", "timestamp_col": "timestamp"}
MINE_DEFAULTS = {
    "case_col": "case:concept:name",
    "activity_col": "concept:name",
    "timestamp_col": "time:timestamp",
}


def register(subparsers: Any) -> None:
    """Add the ``funnel`` and ``mine`` subcommands to the ``journey`` parser's subparsers."""
    funnel_parser = subparsers.add_parser(
        "funnel",
        help="count persons through funnel steps in an event log (CSV, Parquet, JSON lines)",
        description="Print a funnel as JSON: counts, conversion and times per step "
        "(semantics: FUNNELS.md).",
    )
    funnel_parser.add_argument("events", metavar="EVENTS", help="CSV, Parquet or JSON lines file")
    which = funnel_parser.add_mutually_exclusive_group(required=True)
    which.add_argument("--steps", help="comma-separated event names, e.g. signed_up,clicked")
    which.add_argument("--spec", metavar="FUNNEL.yml", help="funnel spec file (YAML or JSON)")
    funnel_parser.add_argument("--window", help="conversion window, e.g. 14d, 12h (default 14d)")
    funnel_parser.add_argument("--order", choices=ORDERS, help="default ordered")
    funnel_parser.add_argument("--person-col", default=FUNNEL_DEFAULTS["person_col"])
    funnel_parser.add_argument("--event-col", default=FUNNEL_DEFAULTS["event_col"])
    funnel_parser.add_argument("--timestamp-col", default=FUNNEL_DEFAULTS["timestamp_col"])
    funnel_parser.add_argument(
        "--timestamp-format", help="strptime format, e.g. '%%d/%%m/%%Y %%H:%%M'"
    )
    funnel_parser.add_argument("--persons", action="store_true", help="list persons per step")
    funnel_parser.set_defaults(handler=run_funnel)

    mine = subparsers.add_parser(
        "mine",
        help="variants, directly-follows graph and process model of an event log",
        description="Write summary.json, dfg.csv, variants.csv and process_model.svg.",
    )
    mine.add_argument("log", metavar="LOG", help="CSV, Parquet or XES (plain or .gz) file")
    mine.add_argument("--out", required=True, metavar="DIR", help="output folder")
    mine.add_argument("--case-col", default=MINE_DEFAULTS["case_col"])
    mine.add_argument("--activity-col", default=MINE_DEFAULTS["activity_col"])
    mine.add_argument("--timestamp-col", default=MINE_DEFAULTS["timestamp_col"])
    mine.add_argument("--timestamp-format", help="strptime format, e.g. '%%d/%%m/%%Y %%H:%%M'")
    mine.set_defaults(handler=run_mine)


def run_funnel(args: argparse.Namespace) -> int:
    """Read the events, run the funnel and print its JSON document."""
    spec = _funnel_spec(args)
    log = read_event_log(
        args.events,
        case_col=args.person_col,
        activity_col=args.event_col,
        timestamp_col=args.timestamp_col,
        timestamp_format=args.timestamp_format,
    )
    result = funnel(
        log.con,
        spec.steps,
        spec.window_seconds,
        order=spec.order,
        exclusions=spec.exclusions,
        breakdown=spec.breakdown,
        table=log.table,
        include_persons=args.persons,
    )
    sys.stdout.write(json.dumps(result.to_dict(), indent=2, ensure_ascii=False) + "\n")
    return 0


def run_mine(args: argparse.Namespace) -> int:
    """Read the log and write the summary, DFG, variants and process model into ``--out``."""
    log = read_event_log(
        args.log,
        case_col=args.case_col,
        activity_col=args.activity_col,
        timestamp_col=args.timestamp_col,
        timestamp_format=args.timestamp_format,
    )
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    compact = traces(log.con, table=log.table)
    summary, found, edges = compact.summary(), compact.variants(), compact.dfg()
    (out / "summary.json").write_text(
        json.dumps(dataclasses.asdict(summary), indent=2, ensure_ascii=False) + "\n",
        encoding="utf-8",
    )
    with (out / "dfg.csv").open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["source", "target", "count", "median_seconds"])
        writer.writerows((e.source, e.target, e.count, e.median_seconds) for e in edges)
    with (out / "variants.csv").open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["variant", "count", "share"])
        writer.writerows((v.label, v.count, v.share) for v in found)
    from journey_mining.process_model import (  # noqa: PLC0415 (keeps pm4py off `journey funnel`)
        discover_petri_net,
        render_process_model,
    )

    svg = render_process_model(discover_petri_net(found), out / "process_model.svg")
    sys.stdout.write(
        f"{summary.cases:,} cases, {summary.events:,} events, {summary.activities} activities, "
        f"{summary.variants} variants -> {out}/ (summary.json, dfg.csv, variants.csv, {svg.name})\n"
    )
    return 0


def _funnel_spec(args: argparse.Namespace) -> FunnelSpec:
    if args.spec:
        spec = load_funnel_spec(args.spec)
    else:
        names = [name.strip() for name in args.steps.split(",")]
        if not names or any(not name for name in names):
            msg = f"--steps: {args.steps!r} needs comma-separated event names, e.g. A,B,C"
            raise FunnelSpecError(msg)
        spec = FunnelSpec(steps=tuple(Step(event=name) for name in names))
    if args.window is not None:
        try:
            spec = dataclasses.replace(spec, window_seconds=parse_duration(args.window))
        except ValueError as error:
            msg = f"--window: {error}"
            raise FunnelSpecError(msg) from error
    if args.order is not None:
        spec = dataclasses.replace(spec, order=args.order)
    return spec
