"""The ``journey`` command: demo, run, validate (and the analyst commands as they land).

Errors print one line and exit non-zero; ``--debug`` shows the traceback.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

DEMO_HOME = Path(".journeymap/demo")


class CliError(Exception):
    """An expected failure: printed as one line, exit status 1."""


def _say(message: str) -> None:
    print(message, flush=True)


class _Progress:
    """Numbered phases with their wall time, so a long run shows where it is."""

    def __init__(self, total: int) -> None:
        self.total = total
        self.step = 0
        self.started = time.perf_counter()

    def phase(self, title: str) -> Callable[[str], None]:
        self.step += 1
        elapsed = time.perf_counter() - self.started
        _say(f"[{self.step}/{self.total}] {title}  (+{elapsed:.1f}s)")
        return lambda message: _say(f"      {message}")


def _cmd_validate(args: argparse.Namespace) -> int:
    from journey_mining.journey_model import validate_paths

    targets = [Path(p) for p in args.paths] or [Path(os.environ.get("JOURNEYMAP_MODELS", "models"))]
    missing = [str(p) for p in targets if not p.exists()]
    if missing:
        msg = f"no such file or directory: {', '.join(missing)}"
        raise CliError(msg)
    errors = validate_paths(targets)
    for error in errors:
        _say(error)
    if errors:
        _say(f"{len(errors)} error(s)")
        return 1
    files = sorted(
        {
            f
            for t in targets
            for f in ([t] if t.is_file() else [*t.glob("*.yml"), *t.glob("*.yaml")])
        }
    )
    _say(f"ok: {len(files)} journey model(s) valid: {', '.join(str(f) for f in files)}")
    return 0


def _cmd_demo(args: argparse.Namespace) -> int:
    import warnings

    from journey_mining.demo import generate_demo
    from pipelines.resources import apply_default_environment

    warnings.filterwarnings("ignore", module="dagster")
    home = Path(args.home)
    env = apply_default_environment(home)
    progress = _Progress(total=2)
    note = progress.phase(f"Generating demo data: {args.persons:,} persons, seed {args.seed}")
    summary = generate_demo(home, persons=args.persons, seed=args.seed, progress=note)
    note(f"{summary.events:,} landing events in {summary.files} files ({summary.seconds:.1f}s)")
    note = progress.phase("Running every asset through Dagster (in-process)")
    from pipelines.run import biggest_losses, run_everything

    results = run_everything(home, "2026-07-01", "2026-10-31", progress=note)
    total = time.perf_counter() - progress.started
    _say("")
    _say("Where each persona loses the most people (trial_to_paid, all entry months):")
    for line in biggest_losses(Path(env["JOURNEYMAP_DUCKDB"])):
        _say(f"  {line}")
    _say("")
    _say(f"Done in {total:.1f}s.")
    _say(f"  DuckDB file:   {env['JOURNEYMAP_DUCKDB']}")
    _say(f"  landing data:  {env['JOURNEYMAP_LANDING']}")
    _say(f"  ground truth:  {home.absolute() / 'ground_truth.json'}")
    for label, path in results.outputs.items():
        _say(f"  {label + ':':<14} {path}")
    ui = f"JOURNEYMAP_HOME={home} DAGSTER_HOME={home.absolute() / 'dagster'} dagster dev"
    _say(f"  Dagster UI:    {ui}  (shows these runs)")
    return 0


def _cmd_run(args: argparse.Namespace) -> int:
    from pipelines.resources import apply_default_environment
    from pipelines.run import run_everything

    home = Path(args.home) if args.home else None
    env = apply_default_environment(home)
    progress = _Progress(total=1)
    note = progress.phase(f"Refreshing from {env['JOURNEYMAP_LANDING']}")
    first, last = _landing_days(Path(env["JOURNEYMAP_LANDING"]))
    results = run_everything(Path(env["JOURNEYMAP_HOME"]), first, last, progress=note)
    for label, path in results.outputs.items():
        _say(f"  {label + ':':<14} {path}")
    return 0


def _cmd_render(args: argparse.Namespace) -> int:
    import duckdb

    from pipelines.assets.journey_map import write_journey_maps
    from pipelines.resources import apply_default_environment

    env = apply_default_environment(Path(args.home) if args.home else None)
    database = Path(env["JOURNEYMAP_DUCKDB"])
    if not database.exists():
        msg = f"{database}: no database yet; run `journey run` or `journey demo` first"
        raise CliError(msg)
    with duckdb.connect(str(database), read_only=True) as con:
        written = write_journey_maps(
            con,
            Path(env["JOURNEYMAP_OUTPUT"]),
            args.period,
            take_snapshot=False,
            draw_process_models=False,
        )
    for name, path in sorted(written.items()):
        if "/csv/" not in name:
            _say(f"  {name + ':':<28} {path}")
    _say(f"rendered {len(written)} files from stored figures")
    return 0


def _landing_days(landing: Path) -> tuple[str, str]:
    """The first configured day and the newest export day found in the landing folder."""
    days = sorted(
        match.group(0)
        for path in landing.rglob("*")
        if (match := re.search(r"\d{4}-\d{2}-\d{2}", path.name)) is not None
    )
    if not days:
        msg = f"{landing}: no dated landing files (expected names like 2026-07-01.jsonl)"
        raise CliError(msg)
    return os.environ.get("JOURNEYMAP_FIRST_DAY", days[0]), days[-1]


def build_parser() -> argparse.ArgumentParser:
    """The argument parser, separate from ``main`` so tests and docs can inspect it."""
    parser = argparse.ArgumentParser(
        prog="journey", description="Living customer journey maps from product and CRM data."
    )
    parser.add_argument("--debug", action="store_true", help="show tracebacks on errors")
    commands = parser.add_subparsers(dest="command", required=True)

    demo = commands.add_parser("demo", help="generate demo data and run the whole pipeline")
    demo.add_argument("--persons", type=int, default=20_000, help="demo persons (default 20000)")
    demo.add_argument("--seed", type=int, default=7, help="random seed (default 7)")
    demo.add_argument("--home", default=str(DEMO_HOME), help=f"folder (default {DEMO_HOME})")
    demo.set_defaults(handler=_cmd_demo)

    run = commands.add_parser("run", help="refresh everything from the landing folder")
    run.add_argument("--home", help="JOURNEYMAP_HOME for this run (default: the environment)")
    run.set_defaults(handler=_cmd_run)

    render = commands.add_parser(
        "render", help="re-render the journey maps from stored figures (no recomputation)"
    )
    render.add_argument("--period", help="YYYY-MM (default: the data's as-of month)")
    render.add_argument("--home", help="JOURNEYMAP_HOME (default: the environment)")
    render.set_defaults(handler=_cmd_render)

    validate = commands.add_parser("validate", help="check journey model files")
    validate.add_argument("paths", nargs="*", help="files or folders (default: models/)")
    validate.set_defaults(handler=_cmd_validate)

    from pipelines.analyst_commands import register

    register(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``journey`` command."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        status: int = args.handler(args)
    except KeyboardInterrupt:
        _say("interrupted")
        return 130
    except Exception as error:
        if args.debug:
            raise
        _say(f"journey {args.command}: error: {_one_line(error)}")
        return 1
    return status


def _one_line(error: BaseException) -> str:
    text = str(error).strip() or type(error).__name__
    lines = text.splitlines()
    return lines[0] if len(lines) == 1 else "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
