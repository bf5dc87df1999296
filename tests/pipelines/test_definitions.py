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
