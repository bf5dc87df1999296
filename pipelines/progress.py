"""Progress lines while Dagster runs in-process: one line per finished step, as it finishes.

``execute_in_process`` blocks until the whole run is over; a run of the demo takes about a
minute, and a data team's backfill far longer. The ``progress`` logger below is added to every
job (see ``pipelines.definitions``); it forwards each step's success or failure to the sink set
by :func:`reporting_to` and does nothing otherwise (for example under ``dagster dev``).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import dagster as dg

_sink: Callable[[str], None] | None = None
_started: dict[str, float] = {}


@contextmanager
def reporting_to(sink: Callable[[str], None]) -> Iterator[None]:
    """Send step progress of the runs started inside the block to ``sink``."""
    global _sink  # noqa: PLW0603 - one in-process run at a time reports to the terminal
    previous, _sink = _sink, sink
    try:
        yield
    finally:
        _sink = previous


class _StepHandler(logging.Handler):
    def emit(self, record: logging.LogRecord) -> None:
        sink = _sink
        meta = getattr(record, "dagster_meta", None)
        event = meta.get("dagster_event") if isinstance(meta, dict) else None
        if sink is None or event is None:
            return
        step = event.step_key or ""
        kind = event.event_type_value
        if kind == "STEP_START":
            _started[step] = time.perf_counter()
        elif kind in {"STEP_SUCCESS", "STEP_FAILURE"}:
            seconds = time.perf_counter() - _started.pop(step, time.perf_counter())
            verdict = "done" if kind == "STEP_SUCCESS" else "FAILED"
            sink(f"{verdict}: {step} ({seconds:.1f}s)")


@dg.logger(None, "One line per finished step, to the terminal of `journey demo|run`.")
def progress_logger(_init_context: dg.InitLoggerContext) -> logging.Logger:
    """A logger whose handler reports step ends to the active :func:`reporting_to` sink."""
    logger = logging.getLogger("journeymap.progress")
    logger.setLevel(logging.DEBUG)
    logger.propagate = False
    if not any(isinstance(h, _StepHandler) for h in logger.handlers):
        logger.addHandler(_StepHandler())
    return logger
