"""The dbt project in transforms/ as Dagster assets: one asset per model, keyed [schema, model]."""

import subprocess
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import dagster as dg
from dagster import AssetExecutionContext
from dagster_dbt import DagsterDbtTranslator, DbtCliResource, DbtProject, dbt_assets

from pipelines.resources import DBT_EXECUTABLE, TRANSFORMS_DIR, DuckDBResource
from pipelines.spark import dbt_target, export_raw_tables, import_map_dimensions

dbt_project = DbtProject(project_dir=TRANSFORMS_DIR, profiles_dir=TRANSFORMS_DIR)


def _newest_source_mtime(project_dir: Path) -> float:
    files = [
        path
        for pattern in ("*.sql", "*.yml")
        for path in project_dir.rglob(pattern)
        if "target" not in path.parts and "logs" not in path.parts
    ]
    return max((path.stat().st_mtime for path in files), default=0.0)


def prepare_manifest(project: DbtProject = dbt_project) -> Path:
    """Parse the dbt project when its manifest is missing or older than any model file.

    dagster-dbt builds the asset graph from ``manifest.json``; parsing here keeps a fresh clone,
    the CLI and the tests working without a separate ``dbt parse`` step.
    """
    manifest = Path(project.manifest_path)
    if manifest.exists() and manifest.stat().st_mtime >= _newest_source_mtime(TRANSFORMS_DIR):
        return manifest
    command = [str(DBT_EXECUTABLE), "parse", "--quiet", "--project-dir", str(TRANSFORMS_DIR)]
    command += ["--profiles-dir", str(TRANSFORMS_DIR), "--target-path", str(manifest.parent)]
    completed = subprocess.run(command, capture_output=True, text=True, check=False)
    if completed.returncode != 0:
        msg = f"dbt parse failed in {TRANSFORMS_DIR}:\n{completed.stdout}{completed.stderr}"
        raise RuntimeError(msg)
    return manifest


class LayerTranslator(DagsterDbtTranslator):
    """Asset key ``[schema, model]`` and group = the model's top folder, by one rule for all."""

    def get_asset_key(self, dbt_resource_props: Mapping[str, Any]) -> dg.AssetKey:
        if dbt_resource_props["resource_type"] == "source":
            return super().get_asset_key(dbt_resource_props)
        return dg.AssetKey([dbt_resource_props["schema"], dbt_resource_props["name"]])

    def get_group_name(self, dbt_resource_props: Mapping[str, Any]) -> str | None:
        fqn = dbt_resource_props.get("fqn", [])
        return str(fqn[1]) if len(fqn) > 2 else None


@dbt_assets(
    manifest=prepare_manifest(),
    project=dbt_project,
    dagster_dbt_translator=LayerTranslator(),
)
def transforms(
    context: AssetExecutionContext, dbt: DbtCliResource, duckdb: DuckDBResource
) -> Iterator[Any]:
    """Build and test every dbt model; dbt's data tests become asset checks.

    Unit tests check the SQL, not the data, so they run in CI (tests/transforms), not in
    every scheduled refresh. The mapping coverage (share of activities no stage rule claims)
    is added to ``marts/fct_mapping_coverage``'s metadata once dbt has released the file.
    With ``JOURNEYMAP_DBT_TARGET=spark`` the raw tables are exported as Parquet for Spark
    first, and the marts stay in Spark's catalog; only the small dimensions the map reads
    (:data:`pipelines.spark.MAP_DIMENSIONS`) are copied back into DuckDB afterwards.
    """
    on_spark = dbt_target() == "spark"
    if on_spark:
        with duckdb.connect() as con:
            counts = export_raw_tables(con)
        context.log.info(f"raw tables exported for Spark: {counts}")
    held = None
    build = ["build", "--exclude-resource-type", "unit_test"]
    for event in dbt.cli(build, context=context).stream():
        if isinstance(event, dg.Output | dg.AssetMaterialization) and _is(event, COVERAGE):
            held = event
            continue
        yield event
    if on_spark:
        with duckdb.connect() as con:
            copied = import_map_dimensions(con)
        context.log.info(f"dimensions the map reads, copied from Spark: {copied}")
    if held is not None:
        with duckdb.connect() as con:
            yield held.with_metadata({**held.metadata, **mapping_coverage(con)})


COVERAGE = dg.AssetKey(["marts", "fct_mapping_coverage"])


def _is(event: dg.Output | dg.AssetMaterialization, key: dg.AssetKey) -> bool:
    if isinstance(event, dg.AssetMaterialization):
        return event.asset_key == key
    return event.output_name == key.to_python_identifier()


def mapping_coverage(con: Any) -> dict[str, float | int | str]:
    """Unmatched share of activities per journey and source, as Dagster metadata values."""
    rows = con.execute(
        "select journey_id, activity_source, n_activities, n_unmatched_activities, unmatched_share "
        "from marts.fct_mapping_coverage order by 1, 2"
    ).fetchall()
    metadata: dict[str, float | int | str] = {}
    for journey, source, total, unmatched, share in rows:
        metadata[f"unmatched_share/{journey}/{source}"] = round(float(share), 4)
        metadata[f"unmatched/{journey}/{source}"] = f"{unmatched:,} of {total:,}"
    return metadata
