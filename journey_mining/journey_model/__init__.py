"""Journey models: load and validate ``models/*.yml`` and compile their rules to table rows.

A journey model is data written by a PM. It is refused with ``path:line: field: problem``
messages when wrong, and reaches SQL only as rows of the ``raw.journey_*`` tables.
"""

from journey_mining.journey_model.compile import (
    RULE_TABLE_SCHEMAS,
    compile_rule_tables,
    glob_to_like,
    persona_clauses,
)
from journey_mining.journey_model.durations import format_duration, parse_duration
from journey_mining.journey_model.errors import JourneyModelError
from journey_mining.journey_model.loader import (
    load_journey_model,
    load_journey_models,
    validate_paths,
)
from journey_mining.journey_model.schema import (
    CRM_TOUCHPOINTS,
    KPI_METRICS,
    MAX_CLAUSES,
    OPERATORS,
    RESERVED_PERSONA_ID,
    AllOf,
    AnyOf,
    Condition,
    Emotion,
    JourneyModel,
    Kpi,
    Layers,
    Matcher,
    Persona,
    PropertyCondition,
    Stage,
)

__all__ = [
    "CRM_TOUCHPOINTS",
    "KPI_METRICS",
    "MAX_CLAUSES",
    "OPERATORS",
    "RESERVED_PERSONA_ID",
    "RULE_TABLE_SCHEMAS",
    "AllOf",
    "AnyOf",
    "Condition",
    "Emotion",
    "JourneyModel",
    "JourneyModelError",
    "Kpi",
    "Layers",
    "Matcher",
    "Persona",
    "PropertyCondition",
    "Stage",
    "compile_rule_tables",
    "format_duration",
    "glob_to_like",
    "load_journey_model",
    "load_journey_models",
    "parse_duration",
    "persona_clauses",
    "validate_paths",
]
