"""The journey map's stage funnel: who reached each designed stage, converted, dropped or waits.

FUNNELS.md ("Journey stages") applied to the marts: the steps are the stages of the journey's
designed path, the events are an attempt's stage visits, the window is the attempt's journey
window (its visits between ``entered_at`` and ``window_closes_at``, both inclusive, up to
``as_of_at``). Attempts still inside their window at the as-of time are censored: reported as
``in_progress``, never as dropped, and left out of the conversion denominator. Every figure is
given per journey, persona (plus ``'all'``) and entry month (plus ``'all'``), so matured cohorts
can be compared month by month.

The SQL text here (``ATTEMPT_CTES``) is shared with :mod:`journey_mining.metrics.timing` and
:mod:`journey_mining.metrics.sentiment`, so the three agree on attempts, breakdowns and the
ordered chain.
"""

from __future__ import annotations

from typing import Final

import polars as pl

from journey_mining.metrics.stats import rate, wilson_interval
from journey_mining.warehouse import Source, Warehouse, as_warehouse

__all__ = [
    "ALL",
    "BREAKDOWN_KEYS",
    "attempt_ctes",
    "breakdown_columns",
    "by_breakdown",
    "chain_sql",
    "funnel_from",
    "stage_funnel",
]

ALL: Final = "all"
BREAKDOWN_KEYS: Final = ("journey_id", "persona_id", "cohort")

_ATTEMPT_CTES: Final = """
with

attempts as (
    select
        journey_id,
        person_key,
        attempt_number,
        attempt_key,
        persona_id,
        strftime(entered_at, '%Y-%m') as cohort,
        status,
        furthest_stage_id,
        entered_at,
        window_closes_at,
        as_of_at,
        window_closes_at <= as_of_at as window_closed
    from marts.fct_journeys
),

visits_in_window as (
    select
        journey_id,
        attempt_key,
        visit_number,
        stage_id,
        stage_order,
        visited_at,
        persona_id,
        strftime(attempt_entered_at, '%Y-%m') as cohort
    from marts.fct_stage_visits
    where visited_at >= attempt_entered_at
        and visited_at <= attempt_closes_at
),

stage_orders as (
    select max(stage_order) + 1 as size
    from marts.dim_journey_stages
),

-- each attempt and stage it visited, once: packed in one integer, which DuckDB finds the
-- distinct ones of several times faster than the columns themselves
stages_reached as (
    select distinct visits_in_window.attempt_key * stage_orders.size + visits_in_window.stage_order
        as attempt_stage
    from visits_in_window
    cross join stage_orders
),

path_steps as (
    select
        journey_id,
        stage_id,
        cast(designed_position as bigint) as step,
        count(*) over (partition by journey_id) as n_steps
    from marts.dim_journey_stages
    where designed_position is not null
),

-- not distinct: the chain takes minimum times, which repeated visits do not change
step_visits as (
    select
        visits_in_window.attempt_key,
        path_steps.step,
        visits_in_window.visited_at
    from visits_in_window
    inner join path_steps
        on visits_in_window.journey_id = path_steps.journey_id
        and visits_in_window.stage_id = path_steps.stage_id
),

{chain}

ordered as (
    select
        attempt_key,
        max(step) as ordered_steps,
        max(reached_at) as last_reached_at
    from chain
    group by attempt_key
)
"""


def attempt_ctes(warehouse: Warehouse, chain_table: str | None = None) -> str:
    """The common table expressions every stage figure starts from, for ``warehouse``'s marts.

    ``attempts`` (with the entry month as ``cohort``; :func:`by_breakdown` groups them under
    ``'all'`` too), ``visits_in_window``, ``breakdowns`` (every journey x persona x cohort
    with an attempt, the ``'all'`` ones included), ``stage_reach`` (attempts that visited
    each stage, per breakdown), ``stages_reached``, ``path_steps`` (the designed
    path, from ``marts.dim_journey_stages.designed_position``), ``step_visits``, ``chain`` and
    ``ordered`` (per attempt: the chain's last step and when it was reached). Attempts are
    joined on the marts' ``attempt_key``, one integer, not on the three columns it stands for.

    ``chain`` is FUNNELS.md's ordered funnel over an attempt's stage visits: step 1 is the
    first visit of the first designed stage, step k+1 the first visit of the next designed
    stage at step k's instant or later (ties in step order). It is unrolled, one join per step
    up to the longest designed path, rather than a recursive CTE: Spark refuses aggregates in a
    recursive step, and the unrolled joins are as fast on DuckDB. Inside one window the
    earliest start goes furthest, so it is the attempt that counts; its times are the ones
    timing reports. Each step carries the step before it's time (``previous_reached_at``), so
    the gaps between steps need no second pass over the chain.

    ``chain_table`` names a table already holding ``select * from chain`` of these CTEs
    (:func:`chain_sql`), for figures computed together from one chain.
    """
    if chain_table is not None:
        if not chain_table.replace("_", "").isalnum():
            msg = f"chain_table must be a table name, got {chain_table!r}"
            raise ValueError(msg)
        chain = f"chain as (\n    select * from {chain_table}\n),"
        return _ATTEMPT_CTES.replace("{chain}", chain) + _BREAKDOWN_CTES
    rows = warehouse.frame("select max(designed_position) as steps from marts.dim_journey_stages")
    steps = int(rows["steps"][0] or 1) if rows.height else 1
    links = [
        """chain_1 as (
    select
        attempt_key,
        1 as step,
        min(visited_at) as reached_at,
        cast(null as timestamp) as previous_reached_at
    from step_visits
    where step = 1
    group by attempt_key
)"""
    ]
    links += [
        f"""chain_{step} as (
    select
        previous.attempt_key,
        {step} as step,
        min(step_visits.visited_at) as reached_at,
        min(previous.reached_at) as previous_reached_at
    from chain_{step - 1} as previous
    inner join step_visits
        on previous.attempt_key = step_visits.attempt_key
        and step_visits.step = {step}
        and step_visits.visited_at >= previous.reached_at
    group by previous.attempt_key
)"""
        for step in range(2, steps + 1)
    ]
    union = "\n    union all\n    ".join(
        f"select * from chain_{step}" for step in range(1, steps + 1)
    )
    chain = ",\n\n".join([*links, f"chain as (\n    {union}\n)"]) + ","
    return _ATTEMPT_CTES.replace("{chain}", chain) + _BREAKDOWN_CTES


def chain_sql(warehouse: Warehouse) -> str:
    """The ordered chain of every attempt (``chain`` of :func:`attempt_ctes`) as one query."""
    return attempt_ctes(warehouse) + "\nselect * from chain\n"


def breakdown_columns(relation: str) -> str:
    """``persona_id`` and ``cohort`` of :func:`by_breakdown`'s groups: ``$all`` where rolled up."""
    return (
        f"case when grouping({relation}.persona_id) = 1 then $all "
        f"else {relation}.persona_id end as persona_id,\n        "
        f"case when grouping({relation}.cohort) = 1 then $all "
        f"else {relation}.cohort end as cohort"
    )


def by_breakdown(relation: str, *keys: str) -> str:
    """A GROUP BY that counts each row under its persona and ``'all'``, its cohort and ``'all'``.

    One pass over ``relation`` (grouping sets), instead of four copies of every row: the
    figures are per journey x persona x entry month, each also for all of them.
    """
    rest = "".join(f", {key}" for key in keys)
    journey = f"{relation}.journey_id"
    persona = f"{relation}.persona_id"
    cohort = f"{relation}.cohort"
    sets = (
        f"({journey}, {persona}, {cohort}{rest})",
        f"({journey}, {persona}{rest})",
        f"({journey}, {cohort}{rest})",
        f"({journey}{rest})",
    )
    return "group by grouping sets (\n        " + ",\n        ".join(sets) + "\n    )"


_BREAKDOWN_CTES: Final = (
    """,

breakdowns as (
    select attempts.journey_id, """
    + breakdown_columns("attempts")
    + """
    from attempts
    """
    + by_breakdown("attempts")
    + """
),

reach_by_order as (
    select
        attempts.journey_id,
        """
    + breakdown_columns("attempts")
    + """,
        stages_reached.attempt_stage % stage_orders.size as stage_order,
        count(*) as reached
    from stages_reached
    cross join stage_orders
    inner join attempts
        on stages_reached.attempt_stage // stage_orders.size = attempts.attempt_key
    """
    + by_breakdown("attempts", "stage_order")
    + """
),

stage_reach as (
    select
        reach_by_order.journey_id,
        reach_by_order.persona_id,
        reach_by_order.cohort,
        stages.stage_id,
        reach_by_order.reached
    from reach_by_order
    inner join marts.dim_journey_stages as stages
        on reach_by_order.journey_id = stages.journey_id
        and reach_by_order.stage_order = stages.stage_order
)
"""
)

_FUNNEL_SQL = (
    """,

-- What the funnel counts of an attempt depends on only these columns, so attempts are
-- counted per distinct combination before the breakdowns multiply anything.
attempt_profiles as (
    select
        attempts.journey_id,
        attempts.persona_id,
        attempts.cohort,
        attempts.status,
        attempts.furthest_stage_id,
        attempts.window_closed,
        coalesce(ordered.ordered_steps, 0) as ordered_steps,
        count(*) as attempts
    from attempts
    left join ordered
        on attempts.attempt_key = ordered.attempt_key
    group by
        attempts.journey_id,
        attempts.persona_id,
        attempts.cohort,
        attempts.status,
        attempts.furthest_stage_id,
        attempts.window_closed,
        coalesce(ordered.ordered_steps, 0)
),

step_counts as (
    select
        attempt_profiles.journey_id,
        """
    + breakdown_columns("attempt_profiles")
    + """,
        path_steps.stage_id,
        path_steps.step,
        path_steps.n_steps,
        sum(attempt_profiles.attempts) as entered,
        sum(case when attempt_profiles.ordered_steps >= path_steps.step
            then attempt_profiles.attempts else 0 end) as reached,
        sum(case when attempt_profiles.ordered_steps > path_steps.step
            then attempt_profiles.attempts else 0 end) as converted,
        sum(case when attempt_profiles.ordered_steps = path_steps.step
            and attempt_profiles.window_closed then attempt_profiles.attempts else 0 end)
            as dropped,
        sum(case when attempt_profiles.ordered_steps = path_steps.step
            and not attempt_profiles.window_closed then attempt_profiles.attempts else 0 end)
            as in_progress,
        sum(case when attempt_profiles.status = 'dropped'
            and attempt_profiles.furthest_stage_id = path_steps.stage_id
            then attempt_profiles.attempts else 0 end) as lost_here,
        sum(case when attempt_profiles.status = 'in_progress'
            and attempt_profiles.furthest_stage_id = path_steps.stage_id
            then attempt_profiles.attempts else 0 end) as open_here
    from attempt_profiles
    inner join path_steps
        on attempt_profiles.journey_id = path_steps.journey_id
    """
    + by_breakdown(
        "attempt_profiles", "path_steps.stage_id", "path_steps.step", "path_steps.n_steps"
    )
    + """
)

select
    step_counts.journey_id,
    step_counts.persona_id,
    step_counts.cohort,
    step_counts.stage_id,
    stages.stage_order,
    step_counts.step,
    cast(step_counts.entered as bigint) as entered,
    cast(step_counts.reached as bigint) as reached,
    coalesce(stage_reach.reached, 0) as reached_any,
    case when step_counts.step < step_counts.n_steps
        then cast(step_counts.converted as bigint) end as converted,
    case when step_counts.step < step_counts.n_steps
        then cast(step_counts.dropped as bigint) end as dropped,
    case when step_counts.step < step_counts.n_steps
        then cast(step_counts.in_progress as bigint) end as in_progress,
    case when step_counts.step < step_counts.n_steps
        then cast(step_counts.converted + step_counts.dropped as bigint) end as conversion_n,
    cast(step_counts.lost_here as bigint) as lost_here,
    cast(step_counts.open_here as bigint) as open_here
from step_counts
left join stage_reach
    on step_counts.journey_id = stage_reach.journey_id
    and step_counts.persona_id = stage_reach.persona_id
    and step_counts.cohort = stage_reach.cohort
    and step_counts.stage_id = stage_reach.stage_id
left join marts.dim_journey_stages as stages
    on step_counts.journey_id = stages.journey_id
    and step_counts.stage_id = stages.stage_id
"""
)

_COLUMNS = (
    *BREAKDOWN_KEYS,
    "stage_id",
    "stage_order",
    "step",
    "entered",
    "reached",
    "reached_any",
    "converted",
    "dropped",
    "in_progress",
    "conversion_n",
    "conversion_rate",
    "conversion_low",
    "conversion_high",
    "lost_here",
    "open_here",
)


def stage_funnel(con: Source) -> pl.DataFrame:
    """The stage funnel of every journey, per persona and entry month.

    An attempt (a row of ``marts.fct_journeys``) is counted under its persona and under
    ``'all'``, and under its entry month (``entered_at`` as ``YYYY-MM``, UTC) and under
    ``'all'``. Steps are the stages of the journey's designed path; an attempt's events are its
    stage visits (``marts.fct_stage_visits``) inside its window.

    Parameters
    ----------
    con
        A connection to the database holding the ``marts`` schema.

    Returns
    -------
    pl.DataFrame
        One row per journey x persona x cohort x designed stage, sorted by those and ``step``:

        - ``stage_id``, ``stage_order`` (the journey model's), ``step`` (position in the
          designed path, from 1);
        - ``entered``: attempts in the breakdown (the same on every stage row);
        - ``reached``: attempts whose ordered chain reached this step. The chain starts at the
          first visit of the first designed stage and takes each next designed stage at the
          same instant or later (FUNNELS.md ordered semantics, ties in step order). An
          attempt that never visits the first designed stage (it entered at a later stage)
          is in ``entered`` and ``reached_any`` but reaches no step of the ordered funnel;
        - ``reached_any``: attempts that visited the stage at all, in any order (the
          milestone view, which shows skipped stages);
        - ``converted``: reached the next designed stage in order; ``dropped``: reached this
          step and not the next, window closed (``window_closes_at <= as_of_at``), including
          attempts that skipped the next stage and went on out of order; ``in_progress``: the
          same with the window still open (censored, never counted as dropped);
          ``conversion_n`` = converted + dropped; ``conversion_rate`` = converted /
          conversion_n with its 95% Wilson interval ``conversion_low``/``conversion_high``.
          All of these are null on the final stage, which has no next stage;
        - ``lost_here``: attempts whose furthest stage (by stage order) is this one and whose
          journey status is ``'dropped'``: the map's drop-off at the stage, in any order;
        - ``open_here``: the same with status ``'in_progress'`` (window still open): neither
          lost nor past the stage yet, so left out of the drop-off rate's denominator
          (``reached_any - open_here``, FUNNELS.md censoring).
    """
    warehouse = as_warehouse(con)
    return funnel_from(warehouse, attempt_ctes(warehouse))


def funnel_from(warehouse: Warehouse, ctes: str) -> pl.DataFrame:
    """:func:`stage_funnel` from the given :func:`attempt_ctes` text (built chain or stored)."""
    frame = warehouse.frame(ctes + _FUNNEL_SQL, {"all": ALL})
    low, high = wilson_interval("converted", "conversion_n")
    return (
        frame.with_columns(
            conversion_rate=rate("converted", "conversion_n"),
            conversion_low=low,
            conversion_high=high,
        )
        .select(_COLUMNS)
        .sort(*BREAKDOWN_KEYS, "step")
    )
