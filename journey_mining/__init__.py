"""journeymap's library: journey models, landing readers, mining metrics and the journey map.

It never imports Dagster or ``pipelines``, so it works from a notebook or another orchestrator;
pm4py is imported only by ``journey_mining.process_model``, when a process model is drawn.
"""

from journey_mining.demo import generate_demo
from journey_mining.eventlog import read_event_log
from journey_mining.ingest import ingest_partition, ingest_partitions
from journey_mining.journey_model import (
    JourneyModelError,
    compile_rule_tables,
    load_journey_model,
    load_journey_models,
    validate_paths,
)
from journey_mining.metrics.funnel import funnel
from journey_mining.metrics.paths import dfg, log_summary, variants
from journey_mining.sources import read_landing

__all__ = [
    "JourneyModelError",
    "compile_rule_tables",
    "dfg",
    "funnel",
    "generate_demo",
    "ingest_partition",
    "ingest_partitions",
    "load_journey_model",
    "load_journey_models",
    "log_summary",
    "read_event_log",
    "read_landing",
    "validate_paths",
    "variants",
]
