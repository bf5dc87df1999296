"""The Spark route gives the same marts and the same journey-map figures as DuckDB.

One small demo (1,000 persons over three months) runs through the DuckDB pipeline as
``journey demo`` runs it. Then the Dagster ``refresh`` job runs again with
``JOURNEYMAP_DBT_TARGET=spark`` on a copy of its DuckDB file that keeps only what ingest wrote
(``raw.*``): the raw tables are exported as Parquet, the same dbt project builds on local
PySpark, the mining queries run on Spark and only their figures come back, and the map is
written. Every mart is compared with DuckDB's table by table (columns, row counts, every
value, floats within 1e-9), and so is every ``mining.*`` table and the map's JSON document.

Run with ``pytest -m spark`` (needs the ``spark`` extra and Java 17); about 5 minutes on 2 cores.
"""

from __future__ import annotations

import json
import shutil
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
from journey_mining.warehouse import SparkWarehouse
from pipelines.assets.mining import METRICS
from pipelines.run import QUIET, run_everything
from pipelines.spark import MAP_DIMENSIONS, raw_dir, spark_session
from tests.conftest import journeymap_environment

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

pytestmark = [pytest.mark.spark, pytest.mark.slow]

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
class SparkRefresh:
    """The ``refresh`` job run on the Spark route: its DuckDB file, outputs, result and time."""

    home: Path
    result: dg.ExecuteInProcessResult
    seconds: float

    @property
    def database(self) -> Path:
        return self.home / "journeymap.duckdb"


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Demo]:
    home = tmp_path_factory.mktemp("spark_demo") / "home"
    environment = {
        **journeymap_environment(home),
        "JOURNEYMAP_SPARK_DIR": str(home / "spark"),
        "JOURNEYMAP_DBT_TARGET": "duckdb",
        # the JIT's first tier only: a short run of many small queries finishes sooner (with
        # room for its code: the default 48 MB fills up and the JIT stops)
        "JOURNEYMAP_SPARK_JAVA_OPTIONS": "-XX:TieredStopAtLevel=1 -XX:ReservedCodeCacheSize=256m",
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
def spark_refresh(demo: Demo) -> SparkRefresh:
    """The demo's ``refresh`` job again, on Spark, into a DuckDB file holding only ``raw.*``."""
    home = demo.home.parent / "spark_route"
    home.mkdir()
    database = home / "journeymap.duckdb"
    shutil.copy(demo.database, database)
    with duckdb.connect(str(database)) as con:
        for schema in ("staging", "intermediate", "marts", "mining"):
            con.execute(f"drop schema if exists {schema} cascade")
    environment = {
        **demo.environment,
        "JOURNEYMAP_DBT_TARGET": "spark",
        "JOURNEYMAP_DUCKDB": str(database),
        "JOURNEYMAP_OUTPUT": str(home / "output"),
        "JOURNEYMAP_DUCKDB_TEMP": str(home / "duckdb_tmp"),
    }
    from pipelines.definitions import defs  # noqa: PLC0415 - reads the environment set above

    with pytest.MonkeyPatch.context() as monkeypatch:
        for key, value in environment.items():
            monkeypatch.setenv(key, value)
        started = time.perf_counter()
        result = defs.resolve_job_def("refresh").execute_in_process(
            instance=dg.DagsterInstance.ephemeral(), run_config=QUIET, raise_on_error=False
        )
        seconds = time.perf_counter() - started
    return SparkRefresh(home=home, result=result, seconds=seconds)


@pytest.fixture(scope="module")
def spark(demo: Demo, spark_refresh: SparkRefresh) -> Iterator[SparkSession]:
    """The session the refresh's mining steps opened on dbt's metastore (the process's own)."""
    assert spark_refresh.result.success, _failures(spark_refresh.result)
    with pytest.MonkeyPatch.context() as monkeypatch:
        for key, value in demo.environment.items():
            monkeypatch.setenv(key, value)
        session = spark_session("journeymap-tests")
        try:
            yield session
        finally:
            session.stop()


def _failures(result: dg.ExecuteInProcessResult) -> str:
    return "\n".join(
        str(event.event_specific_data)[:3000]
        for event in result.all_events
        if event.event_type_value == "STEP_FAILURE"
    )


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
    """A query on Spark, its types made DuckDB's as the mining layer receives them."""
    return SparkWarehouse(spark).frame(sql)


def comparable(frame: pl.DataFrame, like: pl.DataFrame) -> pl.DataFrame:
    """``frame`` with numbers cast to ``like``'s types, sorted by every column."""
    columns = []
    for name, dtype in frame.schema.items():
        column = pl.col(name)
        target = like.schema[name]
        if dtype.is_numeric() and target.is_numeric() and dtype != target:
            column = column.cast(target)
        columns.append(column)
    return frame.select(columns).sort(frame.columns, nulls_last=True)


def test_the_spark_refresh_passes_every_model_and_data_test(spark_refresh: SparkRefresh) -> None:
    result = spark_refresh.result
    assert result.success, _failures(result)
    dbt_layers = {"staging", "intermediate", "marts"}
    checks = [
        check
        for check in result.get_asset_check_evaluations()
        if check.asset_key.path[0] in dbt_layers
    ]
    assert len(checks) > 50  # dbt's data tests, run by Spark
    assert [check.asset_check_key for check in checks if not check.passed] == []
    materialized = {event.asset_key for event in result.get_asset_materialization_events()}
    assert {dg.AssetKey(["mining", name]) for name in METRICS} <= materialized
    assert dg.AssetKey(["journey_map", "journey_maps"]) in materialized
    with duckdb.connect(str(spark_refresh.database), read_only=True) as con:
        raw = con.execute(
            "select table_name from information_schema.tables "
            "where table_schema = 'raw' and table_type = 'BASE TABLE'"
        ).fetchall()
    assert {path.name for path in raw_dir().iterdir()} == {name for (name,) in raw}
    assert {"product_events", "crm_contacts", "journey_models"} <= {name for (name,) in raw}


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
        # built_at is when each build wrote the row: the two builds ran at other times
        assert_same(found.drop("built_at", strict=False), expected.drop("built_at", strict=False))


def test_the_spark_route_keeps_only_figures_and_map_dimensions_in_duckdb(
    spark_refresh: SparkRefresh,
) -> None:
    """No fact table comes back from Spark: DuckDB holds raw, the figures and two dimensions."""
    with duckdb.connect(str(spark_refresh.database), read_only=True) as con:
        rows = con.execute(
            "select table_schema, table_name from information_schema.tables "
            "where table_schema in ('staging', 'intermediate', 'marts')"
        ).fetchall()
    assert sorted(rows) == sorted(("marts", table) for table in MAP_DIMENSIONS)


@pytest.mark.parametrize("table", sorted(METRICS))
def test_every_journey_map_figure_is_the_same_from_spark(
    demo: Demo, spark_refresh: SparkRefresh, table: str
) -> None:
    """Each ``mining.*`` table mined on Spark equals the DuckDB route's, value by value."""
    assert spark_refresh.result.success, _failures(spark_refresh.result)
    expected = duckdb_frame(demo.database, f"select * from mining.{table}")
    found = duckdb_frame(spark_refresh.database, f"select * from mining.{table}")
    assert expected.height > 0
    assert found.columns == expected.columns
    assert found.height == expected.height
    assert_same(found, expected)


def test_the_journey_map_document_is_the_same_from_spark(
    demo: Demo, spark_refresh: SparkRefresh
) -> None:
    """The map's JSON document (every figure, interval and layer) is the same on both routes."""
    assert spark_refresh.result.success, _failures(spark_refresh.result)
    [expected_file] = (demo.home / "output").glob("*/*/journey_map.json")
    found_file = spark_refresh.home / "output" / expected_file.relative_to(demo.home / "output")
    expected = _comparable(json.loads(expected_file.read_text()))
    found = _comparable(json.loads(found_file.read_text()))
    assert len(found["documents"]) > 2  # all personas and each persona
    assert all(document["stages"] for document in found["documents"])
    assert found == expected


def _comparable(maps: dict[str, Any]) -> dict[str, Any]:
    """The map file without when it was written; floats to 9 significant digits."""

    def rounded(value: Any) -> Any:
        if isinstance(value, float):
            return float(f"{value:.9g}")
        if isinstance(value, dict):
            return {key: rounded(item) for key, item in value.items()}
        if isinstance(value, list):
            return [rounded(item) for item in value]
        return value

    documents = [
        {key: value for key, value in document.items() if key != "generated_at"}
        for document in maps["documents"]
    ]
    return rounded({**maps, "documents": documents})
