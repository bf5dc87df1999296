"""The one seam to pm4py (AGPL-3.0, an optional extra): process discovery on aggregated variants.

pm4py is imported lazily inside the functions, with its import-time output swallowed, so the SQL
core imports, runs and is licensed without it.
"""

from __future__ import annotations

import contextlib
import io
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

from journey_mining.metrics.paths import Variant

__all__ = ["PetriNet", "ProcessModelError", "discover_petri_net", "render_process_model"]


class ProcessModelError(RuntimeError):
    """Discovery or rendering is unavailable (pm4py or graphviz missing) or failed."""


@dataclass(frozen=True)
class PetriNet:
    """A discovered accepting Petri net: pm4py's net with its initial and final markings."""

    net: Any
    initial_marking: Any
    final_marking: Any

    @property
    def activities(self) -> frozenset[str]:
        """The labels of the visible transitions."""
        return frozenset(t.label for t in self.net.transitions if t.label is not None)


def discover_petri_net(variants: Sequence[Variant], *, noise_threshold: float = 0.0) -> PetriNet:
    """Discover a Petri net with pm4py's inductive miner from aggregated variants.

    The miner sees one trace per variant, never the raw events; with ``noise_threshold`` 0 the
    model is the one the inductive miner finds on the whole log.

    Parameters
    ----------
    variants
        The variants of the log (from :func:`journey_mining.metrics.paths.variants`).
    noise_threshold
        The inductive miner's infrequent-behaviour threshold (0 keeps every variant's behaviour).

    Returns
    -------
    PetriNet
        The net with its initial and final markings.
    """
    if not variants:
        msg = "no variants to discover a process model from"
        raise ProcessModelError(msg)
    pm4py = _pm4py()
    import pandas as pd  # noqa: PLC0415 (comes with the optional pm4py extra)

    cases, activities, stamps = [], [], []
    start = pd.Timestamp("2000-01-01", tz="UTC")
    for index, variant in enumerate(variants):
        for position, activity in enumerate(variant.activities):
            cases.append(f"variant-{index}")
            activities.append(activity)
            stamps.append(start + pd.Timedelta(seconds=position))
    frame = pd.DataFrame(
        {
            "case:concept:name": pd.Series(cases, dtype=object),
            "concept:name": pd.Series(activities, dtype=object),
            "time:timestamp": pd.Series(stamps),
        }
    )
    net, initial, final = pm4py.discover_petri_net_inductive(
        frame,
        noise_threshold=noise_threshold,
        activity_key="concept:name",
        case_id_key="case:concept:name",
        timestamp_key="time:timestamp",
    )
    return PetriNet(net, initial, final)


def render_process_model(model: PetriNet, path: str | Path) -> Path:
    """Draw the Petri net as SVG with graphviz (the ``dot`` program must be installed).

    Returns
    -------
    Path
        The SVG file written.
    """
    if shutil.which("dot") is None:
        msg = "graphviz's 'dot' program is not installed (apt-get install graphviz)"
        raise ProcessModelError(msg)
    pm4py = _pm4py()
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    with _quiet():
        pm4py.save_vis_petri_net(
            model.net, model.initial_marking, model.final_marking, str(target), rankdir="LR"
        )
    return target


def _pm4py() -> ModuleType:
    try:
        with _quiet():
            import pm4py  # noqa: PLC0415 (AGPL, optional extra: imported only when used)
    except ImportError as error:
        msg = "pm4py is not installed; install the 'mining' extra: pip install 'journeymap[mining]'"
        raise ProcessModelError(msg) from error
    module: ModuleType = pm4py
    return module


@contextlib.contextmanager
def _quiet() -> Any:
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        yield
