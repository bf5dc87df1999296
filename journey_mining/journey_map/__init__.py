"""The journey map: a versioned JSON document, a self-contained HTML page, the monthly review,
CSV exports and the dated snapshots the review compares.

Read a period's figures from the ``mining`` tables (or their snapshot), build one document per
persona view with :func:`build_journey_maps`, and render them; :func:`write_outputs` does all
of it for a period, snapshot included.
"""

from journey_mining.journey_map.document import (
    SCHEMA_VERSION,
    build_journey_map,
    build_journey_maps,
    figure_tables,
    journey_map_collection,
    journey_map_schema,
    stage_channel_mix,
    stage_channel_mix_and_top_actions,
    stage_top_actions,
    validate_journey_map,
)
from journey_mining.journey_map.exports import export_csv, write_outputs
from journey_mining.journey_map.html import render_html
from journey_mining.journey_map.review import render_review
from journey_mining.journey_map.snapshot import (
    SnapshotResult,
    previous_period_figures,
    snapshot,
    snapshot_periods,
)

__all__ = [
    "SCHEMA_VERSION",
    "SnapshotResult",
    "build_journey_map",
    "build_journey_maps",
    "export_csv",
    "figure_tables",
    "journey_map_collection",
    "journey_map_schema",
    "previous_period_figures",
    "render_html",
    "render_review",
    "snapshot",
    "snapshot_periods",
    "stage_channel_mix",
    "stage_channel_mix_and_top_actions",
    "stage_top_actions",
    "validate_journey_map",
    "write_outputs",
]
