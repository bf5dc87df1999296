"""The dbt project on Spark builds the same marts and journey-map figures as on DuckDB.

One small demo (1,000 persons over three months) runs through the DuckDB pipeline as
``journey demo`` runs it; its raw tables are exported as Parquet and the same dbt project is
built again with ``JOURNEYMAP_DBT_TARGET=spark`` by the dbt CLI on local PySpark. Then every
mart is compared table by table (columns, row counts, every value, floats within 1e-9), and
the journey map's stage funnel per persona is computed from Spark's marts and compared with
the DuckDB pipeline's.

Run with ``pytest -m spark`` (needs the ``spark`` extra and Java 17); about 4 minutes on 2 cores.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

import dagster as dg
import duckdb
import polars as pl
import pytest
from polars.testing import assert_frame_equal

from journey_mining.demo import generate_demo
from journey_mining.metrics.stage_funnel import stage_funnel
from pipelines.run import run_everything
from pipelines.spark import export_raw_tables, raw_dir, spark_session
from tests.conftest import journeymap_environment

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

pytestmark = [pytest.mark.spark, pytest.mark.slow]

PROJECT_ROOT = Path(__file__).resolve().parents[2]
TRANSFORMS_DIR = PROJECT_ROOT / "transforms"
DBT = Path(sys.executable).with_name("dbt")
PERSONS = 1_000


@dataclass(frozen=True)
class Demo:
    """The demo's home folder, built on DuckDB, and the environment that points at it."""

    home: Path
    environment: dict[str, str]

    @property
    def database(self) -> Path:
        return self.home / "journeymap.duckdb"


@dataclass(frozen=True)
class SparkBuild:
    """One ``dbt build`` of the project on Spark: exit code, output, results, wall time."""

    returncode: int
    output: str
    results: list[dict[str, Any]]
    seconds: float


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Demo]:
    home = tmp_path_factory.mktemp("spark_demo") / "home"
    environment = {
        **journeymap_environment(home),
        "JOURNEYMAP_SPARK_DIR": str(home / "spark"),
        "JOURNEYMAP_DBT_TARGET": "duckdb",
        # the JIT's first tier only: a short run of many small queries finishes sooner
        "JOURNEYMAP_SPARK_JAVA_OPTIONS": "-XX:TieredStopAtLevel=1",
    }
    with pytest.MonkeyPatch.context() as monkeypatch:
        for key, value in environment.items():
            monkeypatch.setenv(key, value)
        generate_demo(home, persons=PERSONS, seed=5, start=date(2026, 7, 1), end=date(2026, 9, 30))
        run_everything(
            home,
            "2026-07-01",
            "2026-09-30",
            progress=lambda _: None,
            instance=dg.DagsterInstance.ephemeral(),
        )
        yield Demo(home=home, environment=environment)


@pytest.fixture(scope="module")
def spark_build(demo: Demo) -> SparkBuild:
    """Export raw.* to Parquet, then ``dbt build`` on Spark as the Dagster asset runs it."""
    with pytest.MonkeyPatch.context() as monkeypatch:
        for key, value in demo.environment.items():
            monkeypatch.setenv(key, value)
        with duckdb.connect(str(demo.database), read_only=True) as con:
            exported = export_raw_tables(con)
        assert exported["product_events"] > 0
        assert sorted(path.name for path in raw_dir().iterdir()) == sorted(exported)
    work = demo.home / "dbt_spark"
    env = {**os.environ, **demo.environment, "JOURNEYMAP_DBT_TARGET": "spark"}
    command = [
        str(DBT),
        "build",
        "--exclude-resource-type",
        "unit_test",
        "--project-dir",
        str(TRANSFORMS_DIR),
        "--profiles-dir",
        str(TRANSFORMS_DIR),
        "--target-path",
        str(work / "target"),
        "--log-path",
        str(work / "logs"),
    ]
    started = time.perf_counter()
    completed = subprocess.run(
        command, env=env, cwd=demo.home, capture_output=True, text=True, check=False
    )
    seconds = time.perf_counter() - started
    results_file = work / "target" / "run_results.json"
    results = json.loads(results_file.read_text())["results"] if results_file.exists() else []
    return SparkBuild(completed.returncode, completed.stdout + completed.stderr, results, seconds)


@pytest.fixture(scope="module")
def spark(demo: Demo, spark_build: SparkBuild) -> Iterator[SparkSession]:
    """A session on the metastore dbt just wrote (opened after dbt's process has ended)."""
    assert spark_build.returncode == 0, spark_build.output[-5000:]
    with pytest.MonkeyPatch.context() as monkeypatch:
        for key, value in demo.environment.items():
            monkeypatch.setenv(key, value)
        session = spark_session("journeymap-tests")
        try:
            yield session
        finally:
            session.stop()


def mart_names(database: Path) -> list[str]:
    with duckdb.connect(str(database), read_only=True) as con:
        rows = con.execute(
            "select table_name from information_schema.tables "
            "where table_schema = 'marts' order by 1"
        ).fetchall()
    return [name for (name,) in rows]


def duckdb_frame(database: Path, sql: str) -> pl.DataFrame:
    with duckdb.connect(str(database), read_only=True) as con:
        return con.sql(sql).pl()


def spark_frame(spark: SparkSession, sql: str) -> pl.DataFrame:
    frame = pl.from_arrow(spark.sql(sql).toArrow())
    assert isinstance(frame, pl.DataFrame)
    return frame


def naive_utc(frame: pl.DataFrame) -> pl.DataFrame:
    """Spark's timestamps (instants, shown in the session's UTC) as DuckDB's naive UTC ones."""
    return frame.with_columns(
        pl.col(name).dt.convert_time_zone("UTC").dt.replace_time_zone(None)
        for name, dtype in frame.schema.items()
        if isinstance(dtype, pl.Datetime) and dtype.time_zone is not None
    )


def comparable(frame: pl.DataFrame, like: pl.DataFrame) -> pl.DataFrame:
    """``frame`` with UTC timestamps made naive and numbers cast to ``like``'s types, sorted.

    Spark's timestamps are instants shown in the session's zone (UTC), DuckDB's are naive
    UTC; Spark's row_number and literals are 32-bit where DuckDB's are 64-bit.
    """
    frame = naive_utc(frame)
    columns = []
    for name, dtype in frame.schema.items():
        column = pl.col(name)
        target = like.schema[name]
        if dtype.is_numeric() and target.is_numeric() and dtype != target:
            column = column.cast(target)
        if isinstance(dtype, pl.Datetime):
            column = column.cast(pl.Datetime("us"))
        columns.append(column)
    return frame.select(columns).sort(frame.columns, nulls_last=True)


def test_the_spark_build_passes_every_model_and_data_test(spark_build: SparkBuild) -> None:
    assert spark_build.returncode == 0, spark_build.output[-5000:]
    failed = [
        result["unique_id"]
        for result in spark_build.results
        if result["status"] not in ("success", "pass")
    ]
    assert failed == []
    kinds = {result["unique_id"].split(".")[0] for result in spark_build.results}
    assert {"model", "test"} <= kinds


def assert_same(found: pl.DataFrame, expected: pl.DataFrame) -> None:
    """Equal values, row order aside, floats within 1e-9 (the engines sum in other orders)."""
    assert_frame_equal(
        comparable(found, expected),
        comparable(expected, expected),
        check_dtypes=False,
        rel_tol=1e-9,
        abs_tol=1e-9,
    )


def test_every_mart_is_the_same_on_spark_as_on_duckdb(demo: Demo, spark: SparkSession) -> None:
    marts = mart_names(demo.database)
    assert {"fct_activities", "dim_persons", "fct_stage_visits", "fct_journeys"} <= set(marts)
    on_spark = {row.tableName for row in spark.sql("show tables in marts").collect()}
    assert set(marts) <= on_spark
    for mart in marts:
        expected = duckdb_frame(demo.database, f"select * from marts.{mart}")
        found = spark_frame(spark, f"select * from marts.{mart}")
        assert found.columns == expected.columns, mart
        assert found.height == expected.height, mart
        assert expected.height > 0, mart
        assert_same(found, expected)


def test_the_stage_funnel_per_persona_is_the_same_from_spark_marts(
    demo: Demo, spark: SparkSession
) -> None:
    """The journey map's funnel, computed from the marts Spark built, equals the DuckDB run's."""
    expected = duckdb_frame(demo.database, "select * from mining.stage_funnel")
    with duckdb.connect() as con:
        con.execute("create schema marts")
        for mart in ("fct_journeys", "fct_stage_visits", "dim_journey_stages", "fct_stage_events"):
            frame = naive_utc(spark_frame(spark, f"select * from marts.{mart}"))
            con.register("spark_mart", frame.to_arrow())
            con.execute(f"create table marts.{mart} as select * from spark_mart")
            con.unregister("spark_mart")
        found = stage_funnel(con)
    assert found.columns == expected.columns
    assert set(found["persona_id"]) == set(expected["persona_id"]) >= {"all", "developer"}
    assert_same(found, expected)
