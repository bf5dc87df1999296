"""models/*.yml -> the raw.journey_* rule tables that dbt joins to the activity stream."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import dagster as dg

from journey_mining.journey_model import compile_rule_tables, load_journey_models
from pipelines.resources import DuckDBResource, JourneymapPaths

RULE_TABLES = (
    "journey_models",
    "journey_stages",
    "journey_personas",
    "journey_stage_rules",
    "journey_persona_rules",
    "journey_rule_conditions",
)


@dg.multi_asset(
    specs=[
        dg.AssetSpec(["raw", table], group_name="ingest", kinds={"duckdb"}) for table in RULE_TABLES
    ],
    description="Validate every journey model and replace the compiled rule tables in one go.",
)
def journey_models(
    duckdb: DuckDBResource, paths: JourneymapPaths
) -> Iterator[dg.MaterializeResult]:
    """Replace all rule tables in one transaction, so dbt never sees half a model."""
    models = load_journey_models(Path(paths.models))
    tables = compile_rule_tables(models)
    with duckdb.connect() as con:
        con.execute("begin transaction")
        con.execute("create schema if not exists raw")
        for table in RULE_TABLES:
            con.register("compiled", tables[table])
            con.execute(f"create or replace table raw.{table} as select * from compiled")
            con.unregister("compiled")
        con.execute("commit")
    for table in RULE_TABLES:
        yield dg.MaterializeResult(
            asset_key=["raw", table],
            metadata={
                "dagster/row_count": tables[table].height,
                "journeys": ", ".join(model.id for model in models),
            },
        )
