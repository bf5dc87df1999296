"""The warehouse seam: DuckDB runs the house SQL as written; Spark gets a faithful translation.

Running the translations on Spark is ``tests/spark`` (every metric on both engines); these
check the rewrites sqlglot alone would get wrong, without a JVM.
"""

from __future__ import annotations

import duckdb
import polars as pl
import pytest

from journey_mining.warehouse import DuckDBWarehouse, Warehouse, as_warehouse, to_spark_sql


def test_duckdb_connections_become_warehouses_and_warehouses_pass_through():
    con = duckdb.connect()
    warehouse = as_warehouse(con)
    assert isinstance(warehouse, DuckDBWarehouse)
    assert isinstance(warehouse, Warehouse)
    assert as_warehouse(warehouse) is warehouse


def test_duckdb_binds_parameters_instead_of_pasting_them():
    warehouse = as_warehouse(duckdb.connect())
    tricky = "x'); drop table t; --"
    frame = warehouse.frame("select $value as value, $n + 1 as n", {"value": tricky, "n": 41})
    assert frame.to_dicts() == [{"value": tricky, "n": 42}]


def test_parameters_stay_markers_on_spark():
    assert to_spark_sql("select * from t where a = $all") == "SELECT * FROM t WHERE a = :all"


def test_an_ordered_list_keeps_its_order_on_spark():
    sql = to_spark_sql("select k, list(v order by t, n) as vs from x group by k")
    assert (
        "TRANSFORM(ARRAY_SORT(COLLECT_LIST(STRUCT(t AS _k0, n AS _k1, v AS _v))), _e -> _e._v)"
        in (sql)
    )


def test_an_ordered_list_keeps_its_filter_inside_the_aggregate():
    sql = to_spark_sql(
        "select coalesce(list(a.e order by a.ts) filter (where a.id is not null), []) from a"
    )
    assert "COLLECT_LIST(STRUCT(a.ts AS _k0, a.e AS _v)) FILTER(WHERE NOT a.id IS NULL)" in sql
    assert sql.index("FILTER") < sql.index("_e -> _e._v")


def test_the_parts_of_an_ordered_list_are_translated_too():
    sql = to_spark_sql("select list(v order by epoch_us(t)) filter (where epoch_us(t) > 0) from x")
    assert "EPOCH_US" not in sql
    assert "STRUCT(UNIX_MICROS(t) AS _k0, v AS _v)" in sql
    assert "FILTER(WHERE UNIX_MICROS(t) > 0)" in sql


def test_a_materialized_cte_is_a_plain_cte_on_spark():
    sql = to_spark_sql(
        "with a as materialized (select 1 as x), b as (select 2 as y) select * from a, b"
    )
    assert sql == "WITH a AS (SELECT 1 AS x), b AS (SELECT 2 AS y) SELECT * FROM a, b"


def test_a_descending_ordered_list_is_refused_rather_than_silently_reversed():
    with pytest.raises(ValueError, match="ascending"):
        to_spark_sql("select list(v order by t desc) from x")


def test_epoch_and_exact_median_are_spark_functions_even_when_nested():
    sql = to_spark_sql("select quantile_cont(epoch_us(b) - epoch_us(a), 0.5) from t")
    assert sql == "SELECT PERCENTILE(UNIX_MICROS(b) - UNIX_MICROS(a), 0.5) FROM t"


def test_duckdb_quantile_cont_is_the_linear_interpolation_spark_percentile_computes():
    """Spark's percentile(x, 0.5) interpolates between the middle two, as quantile_cont does."""
    frame = as_warehouse(duckdb.connect()).frame(
        "select quantile_cont(x, 0.5) as median, quantile_cont(x, 0.9) as p90 "
        "from (values (1), (2), (4), (10)) as t(x)"
    )
    assert frame.to_dicts() == [{"median": 3.0, "p90": pytest.approx(8.2)}]


def test_more_than_one_statement_is_refused():
    with pytest.raises(ValueError, match="one statement"):
        to_spark_sql("select 1; select 2")


def test_duckdb_frames_are_polars():
    frame = as_warehouse(duckdb.connect()).frame("select 1 as one")
    assert isinstance(frame, pl.DataFrame)


def test_a_temporary_result_is_computed_once_kept_for_the_block_and_dropped_after_it():
    con = duckdb.connect()
    con.execute("create table t as select range as x from range(5)")
    warehouse = as_warehouse(con)
    with warehouse.temporary("evens", "select x from t where x % 2 = $r", {"r": 0}) as evens:
        con.execute("delete from t")  # the kept result no longer depends on its source
        assert warehouse.frame(f"select sum(x) as s from {evens}").item() == 0 + 2 + 4
        with warehouse.temporary("evens", f"select * from {evens}") as again:
            assert again != evens
    tables = con.execute("select table_name from duckdb_tables() where temporary").fetchall()
    assert tables == []
