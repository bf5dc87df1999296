"""The Spark route of the dbt project: the raw tables as Parquet, and a session like dbt's.

Ingest writes ``raw.*`` into one DuckDB file, which Spark cannot read. Before dbt runs with
``JOURNEYMAP_DBT_TARGET=spark``, :func:`export_raw_tables` writes every raw table as Parquet
under ``JOURNEYMAP_SPARK_RAW``; dbt's ``on-run-start`` hook (``transforms/macros/
raw_sources.sql``) registers those folders as external tables ``raw.<table>``, so the staging
models read the same rows on either engine. :func:`spark_session` opens PySpark with the
settings of the ``spark`` output in ``transforms/profiles.yml`` (read from that file, so the
two cannot drift), for reading the marts dbt built.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb
import jinja2
import yaml

from journey_mining.warehouse import Source, SparkWarehouse
from pipelines.resources import TRANSFORMS_DIR

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

TARGET_VARIABLE = "JOURNEYMAP_DBT_TARGET"


def dbt_target() -> str:
    """The dbt target the environment selects: ``duckdb`` unless ``JOURNEYMAP_DBT_TARGET`` says."""
    return os.environ.get(TARGET_VARIABLE, "duckdb")


def spark_dir() -> Path:
    """Where the Spark route keeps its metastore, warehouse and raw Parquet files."""
    home = os.environ.get("JOURNEYMAP_HOME", ".journeymap")
    return Path(os.environ.get("JOURNEYMAP_SPARK_DIR", f"{home}/spark")).absolute()


def raw_dir() -> Path:
    """The folder holding one Parquet folder per raw table (``JOURNEYMAP_SPARK_RAW``)."""
    default = spark_dir() / "raw"
    return Path(os.environ.get("JOURNEYMAP_SPARK_RAW", str(default))).absolute()


def export_raw_tables(con: duckdb.DuckDBPyConnection, folder: Path | None = None) -> dict[str, int]:
    """Write every ``raw.*`` table to ``folder/<table>/data.parquet``; return rows per table.

    Each table's folder is replaced whole, so a re-export never leaves stale files behind.
    """
    folder = folder or raw_dir()
    tables = [
        name
        for (name,) in con.execute(
            "select table_name from information_schema.tables "
            "where table_schema = 'raw' and table_type = 'BASE TABLE' order by 1"
        ).fetchall()
    ]
    counts: dict[str, int] = {}
    for table in tables:
        target = folder / table
        shutil.rmtree(target, ignore_errors=True)
        target.mkdir(parents=True)
        path = str(target / "data.parquet").replace("'", "''")
        con.execute(f"copy raw.\"{table}\" to '{path}' (format parquet, compression zstd)")
        row = con.execute(f'select count(*) from raw."{table}"').fetchone()
        counts[table] = int(row[0]) if row else 0
    return counts


def profile_settings(target: str = "spark") -> dict[str, str]:
    """The ``server_side_parameters`` of a target in ``transforms/profiles.yml``, rendered.

    ``env_var`` is rendered as dbt renders it, from the current environment.
    """

    def env_var(name: str, default: str | None = None) -> str:
        value = os.environ.get(name, default)
        if value is None:
            msg = f"transforms/profiles.yml needs the environment variable {name}"
            raise KeyError(msg)
        return value

    text = (TRANSFORMS_DIR / "profiles.yml").read_text(encoding="utf-8")
    environment = jinja2.Environment(autoescape=False)  # noqa: S701 - renders YAML, not HTML
    rendered = environment.from_string(text).render(env_var=env_var)
    profile: dict[str, Any] = yaml.safe_load(rendered)["journeymap"]["outputs"][target]
    return {key: str(value) for key, value in profile.get("server_side_parameters", {}).items()}


def spark_session(app_name: str = "journeymap") -> SparkSession:
    """A PySpark session configured as dbt's ``spark`` target, with Hive catalog support.

    The catalog is a Derby metastore, which one process at a time may open: call this only
    while no dbt process is running on the same ``JOURNEYMAP_SPARK_DIR``.
    """
    from pyspark.sql import SparkSession  # noqa: PLC0415 - pyspark is the optional spark extra

    builder = SparkSession.builder.appName(app_name).enableHiveSupport()
    for key, value in profile_settings().items():
        builder = builder.config(key, value)
    session = builder.getOrCreate()
    # errors only: each mining step's getOrCreate would otherwise warn that it reuses the session
    session.sparkContext.setLogLevel("ERROR")
    return session


def spark_warehouse() -> SparkWarehouse:
    """The mining layer's warehouse on the Spark route: the session of :func:`spark_session`.

    The session is the process's (``getOrCreate``), so the mining steps of one in-process run
    share one JVM and one hold on the local metastore.
    """
    return SparkWarehouse(spark_session())


def marts_source(con: duckdb.DuckDBPyConnection) -> Source:
    """Where the marts are: ``con``'s DuckDB file, or Spark's catalog on the Spark route."""
    return spark_warehouse() if dbt_target() == "spark" else con


MAP_DIMENSIONS = ("dim_journey_stages", "fct_mapping_coverage")
"""The marts the journey map reads besides ``mining.*``: small, one row per stage or source."""


def import_map_dimensions(con: duckdb.DuckDBPyConnection) -> dict[str, int]:
    """Copy :data:`MAP_DIMENSIONS` from Spark's catalog into DuckDB's ``marts``; rows per table.

    The map and its snapshots are written from DuckDB on either route; with the figures in
    ``mining.*`` they need only these dimensions (stage names, owners, layers, KPI targets,
    the as-of time, the mapping coverage), never a fact table.
    """
    warehouse = spark_warehouse()
    con.execute("create schema if not exists marts")
    counts: dict[str, int] = {}
    for table in MAP_DIMENSIONS:
        frame = warehouse.frame(f"select * from marts.{table}")
        con.register("_spark_dimension", frame.to_arrow())
        try:
            con.execute(f"create or replace table marts.{table} as select * from _spark_dimension")
        finally:
            con.unregister("_spark_dimension")
        counts[table] = frame.height
    return counts


def main() -> None:
    """``python -m pipelines.spark``: export ``JOURNEYMAP_DUCKDB``'s raw tables for Spark."""
    home = os.environ.get("JOURNEYMAP_HOME", ".journeymap")
    database = os.environ.get("JOURNEYMAP_DUCKDB", f"{home}/journeymap.duckdb")
    with duckdb.connect(database, read_only=True) as con:
        counts = export_raw_tables(con)
    for table, rows in counts.items():
        print(f"{raw_dir() / table}: {rows:,} rows")


if __name__ == "__main__":
    main()
