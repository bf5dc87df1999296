"""Shared fixtures: every test gets its own journeymap home (DuckDB file, landing, output)."""

from __future__ import annotations

from pathlib import Path

import pytest

PROJECT_ROOT = Path(__file__).resolve().parents[1]
SHIPPED_MODELS = PROJECT_ROOT / "models"
# copies of ../shared/datasets (pm4py test logs, CC BY 4.0), so tests need nothing outside the repo
SHARED_DATASETS = PROJECT_ROOT / "tests" / "fixtures" / "datasets"


@pytest.fixture
def journeymap_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Point every JOURNEYMAP_* variable at a fresh folder under tmp_path."""
    home = tmp_path / "home"
    values = {
        "JOURNEYMAP_HOME": home,
        "JOURNEYMAP_DUCKDB": home / "journeymap.duckdb",
        "JOURNEYMAP_LANDING": home / "landing",
        "JOURNEYMAP_OUTPUT": home / "output",
        "JOURNEYMAP_MODELS": SHIPPED_MODELS,
        "JOURNEYMAP_DUCKDB_TEMP": home / "duckdb_tmp",
    }
    for key, value in values.items():
        monkeypatch.setenv(key, str(value))
    monkeypatch.setenv("JOURNEYMAP_DUCKDB_MEMORY_LIMIT", "2GB")
    return home
