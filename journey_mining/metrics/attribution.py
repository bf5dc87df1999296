"""Which stage an activity belongs to: one rule for the map's actions, channels and sentiment.

A survey answer, a ticket or a click says something about the stage the person was in when it
happened, so each activity is placed in the latest stage visit of its journey attempt at or
before it (``sql/stage_attribution.sql`` states the rule exactly). The channel mix, the top
actions and the sentiment line all place activities through :func:`stage_attribution_sql`, so
a stage's actions and its sentiment always describe the same activities.
"""

from __future__ import annotations

from journey_mining.eventlog import read_sql

__all__ = ["stage_attribution_sql", "stage_value_counts_sql"]


def stage_attribution_sql(activities: str = "marts.fct_activities") -> str:
    """The attribution query over ``activities`` (a table name or a CTE name, never user text).

    Its rows are the activities' own columns plus ``journey_id``, ``persona_id``, ``cohort``,
    ``attempt_number`` and ``stage_id``, once per attempt an activity falls in.
    """
    if not activities.replace(".", "").replace("_", "").isalnum():
        msg = f"activities must be a table or CTE name, got {activities!r}"
        raise ValueError(msg)
    return read_sql("stage_attribution").replace("{activities}", activities)


def stage_value_counts_sql(value: str) -> str:
    """Activities and attempts per breakdown, stage and ``value`` (``event`` or ``channel``).

    The query of ``sql/stage_value_counts.sql`` over every activity of ``marts.fct_activities``
    placed by :func:`stage_attribution_sql`; the map's top actions and channel mix read it.
    """
    if value not in ("event", "channel"):
        msg = f"value must be event or channel, got {value!r}"
        raise ValueError(msg)
    return (
        read_sql("stage_value_counts")
        .replace("{stage_activities}", stage_attribution_sql())
        .replace("{value}", value)
    )
