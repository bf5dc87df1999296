"""Where the mining queries run: DuckDB (the default) or Spark, behind one small interface.

The mining SQL is written once, in DuckDB's dialect (the house dialect, and the engine of the
default route). :class:`SparkWarehouse` runs the same text on Spark: sqlglot translates it, and
the few constructs sqlglot cannot carry over are kept out of the shared SQL (each such query
is written with functions both engines have; ``tests/spark`` runs every metric on both and
compares the results). Parameters stay bound on both engines (``$name`` in the text), never
pasted in. Only aggregated results come back, as Polars frames with DuckDB's types: naive UTC
timestamps and 64-bit integers.

A metric takes either a :class:`Warehouse` or a DuckDB connection (:func:`as_warehouse`), so
notebooks and tests keep passing ``duckdb.connect(...)``.
"""

from __future__ import annotations

import contextlib
import functools
import itertools
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import duckdb
import polars as pl

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

__all__ = [
    "DuckDBWarehouse",
    "Source",
    "SparkWarehouse",
    "Warehouse",
    "as_warehouse",
    "to_spark_sql",
]

Params = Mapping[str, Any] | None

_TEMPORARY_IDS = itertools.count(1)


def _temporary_name(hint: str) -> str:
    return f"_jm_{hint}_{next(_TEMPORARY_IDS)}"


@runtime_checkable
class Warehouse(Protocol):
    """An engine that runs the house-dialect mining SQL and returns its (small) result."""

    dialect: str

    def frame(self, sql: str, params: Params = None) -> pl.DataFrame:
        """The result of ``sql`` (DuckDB dialect, ``$name`` parameters) as a Polars frame."""
        ...

    def temporary(
        self, hint: str, sql: str, params: Params = None
    ) -> contextlib.AbstractContextManager[str]:
        """``sql``'s result kept for the ``with`` block under the name it yields.

        For an intermediate that several queries of one metric read: it is computed once
        instead of once per query, and dropped at the block's end.
        """
        ...


class DuckDBWarehouse:
    """The default route: the marts in a DuckDB file, queried in place."""

    dialect = "duckdb"

    def __init__(self, con: duckdb.DuckDBPyConnection) -> None:
        self.con = con

    def frame(self, sql: str, params: Params = None) -> pl.DataFrame:
        result: pl.DataFrame = self.con.sql(sql, params=dict(params or {})).pl()
        return result

    @contextlib.contextmanager
    def temporary(self, hint: str, sql: str, params: Params = None) -> Iterator[str]:
        """A temp table of this connection (:meth:`Warehouse.temporary`)."""
        name = _temporary_name(hint)
        self.con.execute(f"create temp table {name} as {sql}", dict(params or {})).fetchall()
        try:
            yield name
        finally:
            self.con.execute(f"drop table if exists {name}").fetchall()


@functools.lru_cache(maxsize=256)
def to_spark_sql(sql: str) -> str:
    """``sql`` in DuckDB's dialect, as Spark SQL (``$name`` becomes Spark's ``:name`` marker).

    Besides sqlglot's translation: ``epoch_us(t)`` becomes ``unix_micros(t)``,
    ``list_extract(list, i)`` becomes ``element_at(list, i)``,
    ``quantile_cont(x, q)`` becomes ``percentile(x, q)``, and an ordered
    ``list(v order by k1, k2)`` (Spark's ``collect_list`` has no order) becomes the values of
    the sorted ``collect_list(struct(k1, k2, v))``, its ``filter (where ...)`` kept, and a
    CTE ``as materialized`` (a hint to DuckDB's planner) is a plain CTE.
    """
    import sqlglot  # noqa: PLC0415 - only the Spark route needs it
    from sqlglot.errors import ErrorLevel  # noqa: PLC0415

    trees = sqlglot.parse(sql, read="duckdb")
    if len(trees) != 1 or trees[0] is None:
        msg = f"expected one statement, got {len(trees)}"
        raise ValueError(msg)
    tree = trees[0].transform(_spark_node).transform(_plain_cte)
    spark_sql: str = tree.sql(dialect="spark", unsupported_level=ErrorLevel.RAISE)
    return spark_sql


def _spark_node(node: Any) -> Any:
    from sqlglot import exp  # noqa: PLC0415

    if isinstance(node, exp.Anonymous) and node.name.lower() == "epoch_us":
        return exp.func("unix_micros", *node.expressions, dialect="spark")
    if isinstance(node, exp.Anonymous) and node.name.lower() == "list_extract":
        # both count from 1; sqlglot shifts only literal subscripts to Spark's 0-based ``[]``
        return exp.Anonymous(this="element_at", expressions=node.expressions)
    if isinstance(node, exp.PercentileCont) and node.expression is not None:
        # Spark's exact percentile interpolates linearly, as DuckDB's quantile_cont does
        value = node.this.transform(_spark_node)
        return exp.Anonymous(this="percentile", expressions=[value, node.expression])
    if isinstance(node, exp.Filter) and _is_ordered_list(node.this):
        return _sorted_values(node.this, node.expression)
    if _is_ordered_list(node):
        return _sorted_values(node, None)
    return node


def _plain_cte(node: Any) -> Any:
    """A CTE without DuckDB's ``materialized`` hint, which Spark does not parse."""
    from sqlglot import exp  # noqa: PLC0415

    if isinstance(node, exp.CTE) and node.args.get("materialized"):
        return exp.CTE(this=node.this, alias=node.args.get("alias"))
    return node


def _is_ordered_list(node: Any) -> bool:
    from sqlglot import exp  # noqa: PLC0415

    return isinstance(node, exp.ArrayAgg) and isinstance(node.this, exp.Order)


def _sorted_values(array_agg: Any, where: Any) -> Any:
    import sqlglot  # noqa: PLC0415

    order = array_agg.this
    if any(key.args.get("desc") for key in order.expressions):
        msg = "an ordered list for Spark must be in ascending order"
        raise ValueError(msg)

    def spark(node: Any) -> str:
        text: str = node.transform(_spark_node).sql(dialect="spark")
        return text

    fields = [
        *(f"{spark(key.this)} AS _k{i}" for i, key in enumerate(order.expressions)),
        f"{spark(order.this)} AS _v",
    ]
    collected = f"COLLECT_LIST(STRUCT({', '.join(fields)}))"
    if where is not None:
        collected += f" FILTER ({spark(where)})"
    return sqlglot.parse_one(f"TRANSFORM(ARRAY_SORT({collected}), _e -> _e._v)", read="spark")


class SparkWarehouse:
    """The Spark route: the marts dbt built on Spark, queried through a SparkSession."""

    dialect = "spark"

    def __init__(self, session: SparkSession) -> None:
        self.session = session

    def frame(self, sql: str, params: Params = None) -> pl.DataFrame:
        used = {name: value for name, value in (params or {}).items() if f"${name}" in sql}
        result = self.session.sql(to_spark_sql(sql), args=used or None).toArrow()
        frame = pl.from_arrow(result)
        if not isinstance(frame, pl.DataFrame):  # pragma: no cover - toArrow gives a table
            msg = "Spark returned no table"
            raise TypeError(msg)
        return _as_duckdb_types(frame)

    @contextlib.contextmanager
    def temporary(self, hint: str, sql: str, params: Params = None) -> Iterator[str]:
        """A cached temp view of this session (:meth:`Warehouse.temporary`)."""
        name = _temporary_name(hint)
        used = {key: value for key, value in (params or {}).items() if f"${key}" in sql}
        result = self.session.sql(to_spark_sql(sql), args=used or None).persist()
        result.createOrReplaceTempView(name)
        try:
            yield name
        finally:
            self.session.catalog.dropTempView(name)
            result.unpersist()


def _as_duckdb_types(frame: pl.DataFrame) -> pl.DataFrame:
    """Spark's instants (shown in the session's UTC) as naive UTC, its 32-bit ints as 64-bit."""
    columns = []
    for name, dtype in frame.schema.items():
        column = pl.col(name)
        if isinstance(dtype, pl.Datetime):
            if dtype.time_zone is not None:
                column = column.dt.convert_time_zone("UTC").dt.replace_time_zone(None)
            column = column.cast(pl.Datetime("us"))
        elif dtype in (pl.Int8, pl.Int16, pl.Int32):
            column = column.cast(pl.Int64)
        columns.append(column)
    return frame.select(columns)


def as_warehouse(source: Source) -> Warehouse:
    """``source`` itself, or a DuckDB connection wrapped as the default warehouse."""
    if isinstance(source, duckdb.DuckDBPyConnection):
        return DuckDBWarehouse(source)
    return source


Source = Warehouse | duckdb.DuckDBPyConnection
"""What a metric reads from: a warehouse, or a DuckDB connection to the marts' database."""
