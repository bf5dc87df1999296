"""journeymap's library: journey models, landing readers, mining metrics and the journey map.

It never imports Dagster or ``pipelines``, so it works from a notebook or another orchestrator;
pm4py is imported only by ``journey_mining.process_model``, when a process model is drawn.
"""

from journey_mining.demo import generate_demo
from journey_mining.eventlog import read_event_log
from journey_mining.ingest import ingest_partition, ingest_partitions
from journey_mining.journey_map import (
    build_journey_map,
    render_html,
    render_review,
    snapshot,
    write_outputs,
)
from journey_mining.journey_model import (
    JourneyModelError,
    compile_rule_tables,
    load_journey_model,
    load_journey_models,
    validate_paths,
)
from journey_mining.metrics.conformance import conformance, deviations
from journey_mining.metrics.funnel import funnel
from journey_mining.metrics.paths import dfg, log_summary, variants
from journey_mining.metrics.sentiment import stage_sentiment
from journey_mining.metrics.stage_funnel import stage_funnel
from journey_mining.metrics.stage_paths import loops_and_skips, stage_dfg, stage_variants
from journey_mining.metrics.timing import stage_timing
from journey_mining.sources import read_landing

__all__ = [
    "JourneyModelError",
    "build_journey_map",
    "compile_rule_tables",
    "conformance",
    "deviations",
    "dfg",
    "funnel",
    "generate_demo",
    "ingest_partition",
    "ingest_partitions",
    "load_journey_model",
    "load_journey_models",
    "log_summary",
    "loops_and_skips",
    "read_event_log",
    "read_landing",
    "render_html",
    "render_review",
    "snapshot",
    "stage_dfg",
    "stage_funnel",
    "stage_sentiment",
    "stage_timing",
    "stage_variants",
    "validate_paths",
    "variants",
    "write_outputs",
]
