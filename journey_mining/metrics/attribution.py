"""Which stage an activity belongs to: one rule for the map's actions, channels and sentiment.

A survey answer, a ticket or a click says something about the stage the person was in when it
happened, so each activity is placed in the latest stage visit of its journey attempt at or
before it (``sql/stage_attribution.sql`` states the rule exactly). The channel mix, the top
actions and the sentiment line all place activities through :func:`stage_attribution_sql`, so
a stage's actions and its sentiment always describe the same activities.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass

from journey_mining.eventlog import read_sql
from journey_mining.warehouse import Warehouse

__all__ = ["PlacedActivities", "placed_activities", "stage_attribution_sql"]

VALUES = ("event", "channel")
"""The columns of ``marts.fct_activities`` the map counts per stage."""

_BREAKDOWNS_SQL = """
select
    journey_id,
    persona_id,
    cohort,
    cast(row_number() over (order by journey_id, persona_id, cohort) as bigint)
        as breakdown_index
from (
    select distinct journey_id, persona_id, strftime(entered_at, '%Y-%m') as cohort
    from marts.fct_journeys
) as found
"""

_SIZES_SQL = """
select
    (select max(stage_order) + 1 from marts.dim_journey_stages) as stages,
    (select max(attempt_key) + 1 from marts.fct_journeys) as attempts
"""

_CODES_SQL = """
select value, cast(row_number() over (order by value) as bigint) as code
from (select distinct {value} as value from marts.fct_activities where {value} is not null) as found
"""


def _is_name(text: str) -> bool:
    return text.replace(".", "").replace("_", "").isalnum()


def stage_attribution_sql(
    activities: str = "marts.fct_activities",
    *,
    visits: str = "marts.fct_stage_visits",
    carried: Sequence[str] = (),
) -> str:
    """The attribution query over ``activities`` (a table name or a CTE name, never user text).

    Its rows are the activities' own columns plus ``journey_id``, ``persona_id``, ``cohort``,
    ``attempt_number``, ``attempt_key``, ``stage_id`` and ``stage_order``, once per attempt an
    activity falls in, and the ``carried`` columns of ``visits`` (the stage visits, or a CTE
    over them with more columns).
    """
    for name in (activities, visits, *carried):
        if not _is_name(name):
            msg = f"expected a table, CTE or column name, got {name!r}"
            raise ValueError(msg)
    return (
        read_sql("stage_attribution")
        .replace("{activities}", activities)
        .replace("{visits}", visits)
        .replace("{carried}", "".join(f",\n        {c}" for c in carried))
        .replace("{carried_out}", "".join(f",\n    visit_spans.{c}" for c in carried))
    )


@dataclass(frozen=True)
class PlacedActivities:
    """Every activity placed in a stage, kept in the warehouse for the map's counts.

    ``slots`` holds one row per placed activity (``sql/stage_activity_slots.sql``), packed
    with the stage and attempt counts of ``sizes``; ``breakdowns`` numbers the (journey,
    persona, entry month) of the attempts and ``codes`` names, for each of :data:`VALUES`, the
    table numbering its values.
    """

    slots: str
    sizes: str
    breakdowns: str
    codes: Mapping[str, str]

    def value_counts_sql(self, value: str) -> str:
        """Activities and attempts per breakdown, stage and ``value`` (``event`` or
        ``channel``): ``sql/stage_value_counts.sql``. It takes the parameter ``$all``."""
        if value not in VALUES:
            msg = f"value must be one of {', '.join(VALUES)}, got {value!r}"
            raise ValueError(msg)
        return (
            read_sql("stage_value_counts")
            .replace("{slots}", self.slots)
            .replace("{sizes}", self.sizes)
            .replace("{breakdowns}", self.breakdowns)
            .replace("{codes}", self.codes[value])
            .replace("{value}", value)
        )


@contextlib.contextmanager
def placed_activities(warehouse: Warehouse) -> Iterator[PlacedActivities]:
    """Place every activity of ``marts.fct_activities`` in its stage once, for the ``with``
    block: the range join of the attribution is most of the work of each count."""
    with contextlib.ExitStack() as stack:
        sizes = stack.enter_context(warehouse.temporary("slot_sizes", _SIZES_SQL))
        breakdowns = stack.enter_context(warehouse.temporary("breakdowns", _BREAKDOWNS_SQL))
        # one small table per value: a filter on a shared one hides its size from the planner
        codes = {
            value: stack.enter_context(
                warehouse.temporary(f"{value}_codes", _CODES_SQL.replace("{value}", value))
            )
            for value in VALUES
        }
        slots_sql = (
            read_sql("stage_activity_slots")
            .replace(
                "{stage_activities}",
                stage_attribution_sql("coded_activities", visits="visits", carried=["slot"]),
            )
            .replace("{sizes}", sizes)
            .replace("{breakdowns}", breakdowns)
            .replace("{event_codes}", codes["event"])
            .replace("{channel_codes}", codes["channel"])
        )
        slots = stack.enter_context(warehouse.temporary("activity_slots", slots_sql))
        yield PlacedActivities(slots, sizes, breakdowns, codes)
