import dagster as dg

from pipelines.definitions import defs


def test_definitions_load_and_validate():
    dg.Definitions.validate_loadable(defs)


def test_rule_tables_are_assets_in_the_ingest_group():
    graph = defs.resolve_asset_graph()
    keys = {key.to_user_string() for key in graph.get_all_asset_keys()}
    for table in (
        "journey_models",
        "journey_stages",
        "journey_stage_rules",
        "journey_rule_conditions",
    ):
        assert f"raw/{table}" in keys
        assert graph.get(dg.AssetKey(["raw", table])).group_name == "ingest"


def test_every_dbt_model_is_an_asset_keyed_by_schema_with_lineage_from_ingest():
    import json  # noqa: PLC0415

    from pipelines.assets.transforms import prepare_manifest  # noqa: PLC0415

    manifest = json.loads(prepare_manifest().read_text())
    models = {
        node["name"]: node["schema"]
        for node in manifest["nodes"].values()
        if node["resource_type"] == "model"
    }
    graph = defs.resolve_asset_graph()
    for name, schema in models.items():
        node = graph.get(dg.AssetKey([schema, name]))
        assert node.group_name == schema, name
    assert {"fct_activities", "fct_journeys", "fct_stage_events", "dim_persons"} <= set(models)

    def upstream(key: dg.AssetKey) -> set[dg.AssetKey]:
        seen: set[dg.AssetKey] = set()
        todo = [key]
        while todo:
            for parent in graph.get(todo.pop()).parent_keys:
                if parent not in seen:
                    seen.add(parent)
                    todo.append(parent)
        return seen

    ancestors = upstream(dg.AssetKey(["marts", "fct_journeys"]))
    for raw in ("product_events", "crm_activities", "crm_contacts", "journey_stage_rules"):
        assert dg.AssetKey(["raw", raw]) in ancestors, raw
