"""Resources and the paths they read: every value comes from an environment variable.

Defaults sit under one git-ignored project folder (``JOURNEYMAP_HOME``, default ``.journeymap``).
``apply_default_environment`` writes the defaults into the environment once, so Dagster's
``EnvVar`` and dbt's ``env_var()`` in ``transforms/profiles.yml`` always read the same file.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import dagster as dg
import duckdb
from dagster_dbt import DbtCliResource

PROJECT_ROOT = Path(__file__).resolve().parents[1]
TRANSFORMS_DIR = PROJECT_ROOT / "transforms"

# dbt installed beside this interpreter, so a venv works without being activated
DBT_EXECUTABLE = Path(sys.executable).with_name("dbt")
DUCKDB_FILE_TAG = "journeymap/duckdb_file"
# DuckDB's own limit, not the process's: ingest holds up to about 1.5 GB more (Polars batches,
# Arrow). With 6GB the 50M-event benchmark peaks at 6,754 MiB, in the product events' ingest;
# each asset opens and closes its own connection, so DuckDB's cache of one raw table is gone
# before the next is parsed (with one connection for all tables the peak was 8,109 MiB)
DEFAULT_MEMORY_LIMIT = "6GB"


def default_environment(home: Path | None = None) -> dict[str, str]:
    """The environment's journeymap variables, with defaults derived from ``JOURNEYMAP_HOME``."""
    root = Path(home or os.environ.get("JOURNEYMAP_HOME", ".journeymap")).absolute()
    defaults = {
        "JOURNEYMAP_HOME": str(root),
        "JOURNEYMAP_DUCKDB": str(root / "journeymap.duckdb"),
        "JOURNEYMAP_LANDING": str(root / "landing"),
        "JOURNEYMAP_OUTPUT": str(root / "output"),
        "JOURNEYMAP_MODELS": str(PROJECT_ROOT / "models"),
        "JOURNEYMAP_DUCKDB_MEMORY_LIMIT": DEFAULT_MEMORY_LIMIT,
        "JOURNEYMAP_DUCKDB_TEMP": str(root / "duckdb_tmp"),
    }
    if home is not None:
        return defaults
    return {key: os.environ.get(key, value) for key, value in defaults.items()}


def apply_default_environment(home: Path | None = None) -> dict[str, str]:
    """Set every journeymap variable (``home`` overrides them all) and return the values."""
    values = default_environment(home)
    os.environ.update(values)
    return values


class DuckDBResource(dg.ConfigurableResource):
    """One embedded DuckDB file, opened with a memory limit and a spill folder.

    The limit and the temp directory let large windowed queries spill to disk instead of
    being killed (DESIGN.md, known pins).
    """

    path: str
    memory_limit: str = DEFAULT_MEMORY_LIMIT
    temp_directory: str = ".journeymap/duckdb_tmp"

    @contextmanager
    def connect(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """Open the file for one unit of work and close it afterwards."""
        Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        Path(self.temp_directory).mkdir(parents=True, exist_ok=True)
        con = duckdb.connect(
            self.path,
            config={"memory_limit": self.memory_limit, "temp_directory": self.temp_directory},
        )
        try:
            yield con
        finally:
            con.close()


class JourneymapPaths(dg.ConfigurableResource):
    """Where landing files are read from, journey models live and outputs are written."""

    landing: str
    models: str
    output: str


def build_resources() -> dict[str, object]:
    """The resources every asset uses, bound to the environment variables."""
    apply_default_environment()
    return {
        "duckdb": DuckDBResource(
            path=dg.EnvVar("JOURNEYMAP_DUCKDB"),
            memory_limit=dg.EnvVar("JOURNEYMAP_DUCKDB_MEMORY_LIMIT"),
            temp_directory=dg.EnvVar("JOURNEYMAP_DUCKDB_TEMP"),
        ),
        "paths": JourneymapPaths(
            landing=dg.EnvVar("JOURNEYMAP_LANDING"),
            models=dg.EnvVar("JOURNEYMAP_MODELS"),
            output=dg.EnvVar("JOURNEYMAP_OUTPUT"),
        ),
        "dbt": DbtCliResource(
            project_dir=str(TRANSFORMS_DIR),
            profiles_dir=str(TRANSFORMS_DIR),
            dbt_executable=str(DBT_EXECUTABLE),
        ),
    }
