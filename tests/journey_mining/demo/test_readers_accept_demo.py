"""The landing readers of ``journey_mining.sources`` load the demo exactly as the ground truth
expects: every planted bad line rejected, every planted duplicate dropped, nothing else."""

from __future__ import annotations

import json
from collections import Counter
from datetime import date, datetime
from pathlib import Path

import polars as pl

from journey_mining.demo import generate_demo
from journey_mining.sources._common import KEY_COLUMNS, combine
from journey_mining.sources.registry import landing_files, read_detected


def test_readers_load_reject_and_drop_what_the_truth_expects(tmp_path: Path) -> None:
    demo = generate_demo(
        tmp_path, persons=3_000, seed=2, start=date(2026, 7, 8), end=date(2026, 7, 21)
    )
    truth = json.loads(demo.ground_truth_path.read_text())
    assert truth["planted"]["malformed_lines"] > 0
    read: Counter[str] = Counter()
    rejected: Counter[str] = Counter()
    duplicates: Counter[str] = Counter()
    keys: dict[str, list[pl.DataFrame]] = {}
    for file in landing_files(demo.landing_dir):
        result = combine(list(read_detected(file, now=datetime(2026, 11, 2))))
        assert result.error is None
        read[result.table] += result.rows_read
        rejected[result.table] += result.rejects.height
        duplicates[result.table] += result.duplicates
        keys.setdefault(result.table, []).append(result.rows.select(KEY_COLUMNS[result.table]))
    expected = truth["expected"]
    for table, frames in keys.items():
        rows = pl.concat(frames)
        loaded = rows.unique().height
        figures = expected[table]
        assert read[table] == figures["rows_read"], table
        assert rejected[table] == figures["rejected"], table
        assert loaded == figures["loaded"], table
        assert duplicates[table] + rows.height - loaded == figures["duplicates"], table
