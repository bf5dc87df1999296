"""Shared fixtures: every test gets its own journeymap home (DuckDB file, landing, output)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb
import polars as pl
import pytest

if TYPE_CHECKING:
    from pipelines.run import RunResults

PROJECT_ROOT = Path(__file__).resolve().parents[1]
SHIPPED_MODELS = PROJECT_ROOT / "models"
# copies of ../shared/datasets (pm4py test logs, CC BY 4.0), so tests need nothing outside the repo
SHARED_DATASETS = PROJECT_ROOT / "tests" / "fixtures" / "datasets"


@pytest.fixture
def journeymap_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Point every JOURNEYMAP_* variable at a fresh folder under tmp_path."""
    home = tmp_path / "home"
    for key, value in journeymap_environment(home).items():
        monkeypatch.setenv(key, value)
    return home


def journeymap_environment(home: Path) -> dict[str, str]:
    """Every JOURNEYMAP_* variable for a home folder (shared with tests that run the pipeline)."""
    return {
        "JOURNEYMAP_HOME": str(home),
        "JOURNEYMAP_DUCKDB": str(home / "journeymap.duckdb"),
        "JOURNEYMAP_LANDING": str(home / "landing"),
        "JOURNEYMAP_OUTPUT": str(home / "output"),
        "JOURNEYMAP_MODELS": str(SHIPPED_MODELS),
        "JOURNEYMAP_DUCKDB_TEMP": str(home / "duckdb_tmp"),
        "JOURNEYMAP_DUCKDB_MEMORY_LIMIT": "2GB",
    }


@dataclass(frozen=True)
class DemoPipeline:
    """One demo month run through every Dagster asset, shared by the tests that read it."""

    home: Path
    truth: dict[str, Any]
    persons: pl.DataFrame
    results: RunResults

    def connect(self) -> duckdb.DuckDBPyConnection:
        """A read-only connection to the run's DuckDB file."""
        return duckdb.connect(str(self.home / "journeymap.duckdb"), read_only=True)


@pytest.fixture(scope="session")
def demo_pipeline(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoPipeline]:
    """3,000 demo persons over July to September, generated and run once per session.

    Three months, so the July and August entry cohorts have matured (every window closed by
    the as-of time) and measured conversion can be compared with the generator's
    probabilities without censoring. About 50 s on 2 cores.
    """
    import dagster as dg  # noqa: PLC0415 - only the tests that run the pipeline pay for it

    from journey_mining.demo import generate_demo  # noqa: PLC0415
    from pipelines.run import run_everything  # noqa: PLC0415

    home = tmp_path_factory.mktemp("demo") / "home"
    with pytest.MonkeyPatch.context() as monkeypatch:
        for key, value in journeymap_environment(home).items():
            monkeypatch.setenv(key, value)
        generate_demo(home, persons=3_000, seed=3, start=date(2026, 7, 1), end=date(2026, 9, 30))
        results = run_everything(
            home,
            "2026-07-01",
            "2026-09-30",
            progress=lambda _: None,
            instance=dg.DagsterInstance.ephemeral(),
        )
        yield DemoPipeline(
            home=home,
            truth=json.loads((home / "ground_truth.json").read_text()),
            persons=pl.read_parquet(home / "ground_truth_persons.parquet"),
            results=results,
        )
