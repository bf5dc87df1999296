"""Brute-force variants and directly-follows graph, case by case in plain Python."""

from __future__ import annotations

import itertools
import statistics
from collections import Counter
from collections.abc import Iterable


def traces(rows: Iterable[tuple[str, str, float, int]]) -> dict[str, list[tuple[str, float]]]:
    """Rows (case, activity, epoch seconds, file order) to each case's (activity, time) list."""
    by_case: dict[str, list[tuple[float, int, str]]] = {}
    for case, activity, seconds, seq in rows:
        by_case.setdefault(case, []).append((seconds, seq, activity))
    return {case: [(a, t) for t, _, a in sorted(events)] for case, events in by_case.items()}


def oracle_variants(rows) -> Counter:
    return Counter(tuple(a for a, _ in trace) for trace in traces(rows).values())


def oracle_dfg(rows) -> dict[tuple[str, str], tuple[int, float]]:
    gaps: dict[tuple[str, str], list[float]] = {}
    for trace in traces(rows).values():
        for (a, ta), (b, tb) in itertools.pairwise(trace):
            gaps.setdefault((a, b), []).append(tb - ta)
    return {pair: (len(values), statistics.median(values)) for pair, values in gaps.items()}
