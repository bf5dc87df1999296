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

from journey_mining.metrics.stats import wilson_interval
from journey_mining.warehouse import Source, Warehouse, as_warehouse

__all__ = ["ALL", "BREAKDOWN_KEYS", "attempt_ctes", "stage_funnel"]

ALL: Final = "all"
BREAKDOWN_KEYS: Final = ("journey_id", "persona_id", "cohort")

_ATTEMPT_CTES: Final = """
with

attempts as (
    select
        journey_id,
        person_key,
        attempt_number,
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

attempt_groups as (
    select
        attempts.journey_id,
        attempts.person_key,
        attempts.attempt_number,
        case when breakdowns.all_personas then $all else attempts.persona_id end as persona_id,
        case when breakdowns.all_cohorts then $all else attempts.cohort end as cohort,
        attempts.status,
        attempts.furthest_stage_id,
        attempts.window_closed
    from attempts
    cross join
        (values (false, false), (true, false), (false, true), (true, true))
            as breakdowns (all_personas, all_cohorts)
),

visits_in_window as (
    select
        visits.journey_id,
        visits.person_key,
        visits.attempt_number,
        visits.visit_number,
        visits.stage_id,
        visits.visited_at
    from marts.fct_stage_visits as visits
    inner join attempts
        on visits.journey_id = attempts.journey_id
        and visits.person_key = attempts.person_key
        and visits.attempt_number = attempts.attempt_number
    where visits.visited_at >= attempts.entered_at
        and visits.visited_at <= attempts.window_closes_at
        and visits.visited_at <= attempts.as_of_at
),

stages_reached as (
    select distinct journey_id, person_key, attempt_number, stage_id
    from visits_in_window
),

path_steps as (
    select
        journey_id,
        stage_id,
        designed_position as step,
        count(*) over (partition by journey_id) as n_steps
    from marts.dim_journey_stages
    where designed_position is not null
),

step_visits as (
    select distinct
        visits_in_window.journey_id,
        visits_in_window.person_key,
        visits_in_window.attempt_number,
        path_steps.step,
        visits_in_window.visited_at
    from visits_in_window
    inner join path_steps
        on visits_in_window.journey_id = path_steps.journey_id
        and visits_in_window.stage_id = path_steps.stage_id
),

{chain}

ordered as (
    select journey_id, person_key, attempt_number, max(step) as ordered_steps
    from chain
    group by journey_id, person_key, attempt_number
)
"""


def attempt_ctes(warehouse: Warehouse) -> str:
    """The common table expressions every stage figure starts from, for ``warehouse``'s marts.

    ``attempts``, ``attempt_groups`` (each attempt under its persona and ``'all'``, its entry
    month and ``'all'``), ``visits_in_window``, ``stages_reached``, ``path_steps`` (the designed
    path, from ``marts.dim_journey_stages.designed_position``), ``step_visits``, ``chain`` and
    ``ordered``.

    ``chain`` is FUNNELS.md's ordered funnel over an attempt's stage visits: step 1 is the
    first visit of the first designed stage, step k+1 the first visit of the next designed
    stage at step k's instant or later (ties in step order). It is unrolled, one join per step
    up to the longest designed path, rather than a recursive CTE: Spark refuses aggregates in a
    recursive step, and the unrolled joins are as fast on DuckDB. Inside one window the
    earliest start goes furthest, so it is the attempt that counts; its times are the ones
    timing reports.
    """
    rows = warehouse.frame("select max(designed_position) as steps from marts.dim_journey_stages")
    steps = int(rows["steps"][0] or 1) if rows.height else 1
    links = [
        """chain_1 as (
    select journey_id, person_key, attempt_number, 1 as step, min(visited_at) as reached_at
    from step_visits
    where step = 1
    group by journey_id, person_key, attempt_number
)"""
    ]
    links += [
        f"""chain_{step} as (
    select
        previous.journey_id,
        previous.person_key,
        previous.attempt_number,
        {step} as step,
        min(step_visits.visited_at) as reached_at
    from chain_{step - 1} as previous
    inner join step_visits
        on previous.journey_id = step_visits.journey_id
        and previous.person_key = step_visits.person_key
        and previous.attempt_number = step_visits.attempt_number
        and step_visits.step = {step}
        and step_visits.visited_at >= previous.reached_at
    group by previous.journey_id, previous.person_key, previous.attempt_number
)"""
        for step in range(2, steps + 1)
    ]
    union = "\n    union all\n    ".join(
        f"select * from chain_{step}" for step in range(1, steps + 1)
    )
    chain = ",\n\n".join([*links, f"chain as (\n    {union}\n)"]) + ","
    return _ATTEMPT_CTES.replace("{chain}", chain)


_FUNNEL_SQL = """,

attempt_steps as (
    select
        attempt_groups.journey_id,
        attempt_groups.persona_id,
        attempt_groups.cohort,
        path_steps.stage_id,
        path_steps.step,
        path_steps.n_steps,
        coalesce(ordered.ordered_steps, 0) as ordered_steps,
        stages_reached.stage_id is not null as reached_any,
        attempt_groups.window_closed,
        attempt_groups.status = 'dropped'
            and attempt_groups.furthest_stage_id = path_steps.stage_id as lost_here,
        attempt_groups.status = 'in_progress'
            and attempt_groups.furthest_stage_id = path_steps.stage_id as open_here
    from attempt_groups
    inner join path_steps
        on attempt_groups.journey_id = path_steps.journey_id
    left join ordered
        on attempt_groups.journey_id = ordered.journey_id
        and attempt_groups.person_key = ordered.person_key
        and attempt_groups.attempt_number = ordered.attempt_number
    left join stages_reached
        on attempt_groups.journey_id = stages_reached.journey_id
        and attempt_groups.person_key = stages_reached.person_key
        and attempt_groups.attempt_number = stages_reached.attempt_number
        and path_steps.stage_id = stages_reached.stage_id
),

counted as (
    select
        journey_id,
        persona_id,
        cohort,
        stage_id,
        step,
        step = any_value(n_steps) as is_final,
        count(*) as entered,
        count(*) filter (where ordered_steps >= step) as reached,
        count(*) filter (where reached_any) as reached_any,
        count(*) filter (where ordered_steps > step) as converted,
        count(*) filter (where ordered_steps = step and window_closed) as dropped,
        count(*) filter (where ordered_steps = step and not window_closed) as in_progress,
        count(*) filter (where lost_here) as lost_here,
        count(*) filter (where open_here) as open_here
    from attempt_steps
    group by journey_id, persona_id, cohort, stage_id, step
)

select
    counted.journey_id,
    counted.persona_id,
    counted.cohort,
    counted.stage_id,
    stages.stage_order,
    counted.step,
    counted.entered,
    counted.reached,
    counted.reached_any,
    case when not counted.is_final then counted.converted end as converted,
    case when not counted.is_final then counted.dropped end as dropped,
    case when not counted.is_final then counted.in_progress end as in_progress,
    case when not counted.is_final then counted.converted + counted.dropped end as conversion_n,
    counted.lost_here,
    counted.open_here
from counted
left join marts.dim_journey_stages as stages
    on counted.journey_id = stages.journey_id
    and counted.stage_id = stages.stage_id
"""

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
    frame = warehouse.frame(attempt_ctes(warehouse) + _FUNNEL_SQL, {"all": ALL})
    low, high = wilson_interval("converted", "conversion_n")
    return (
        frame.with_columns(
            conversion_rate=pl.when(pl.col("conversion_n") > 0).then(
                pl.col("converted") / pl.col("conversion_n")
            ),
            conversion_low=low,
            conversion_high=high,
        )
        .select(_COLUMNS)
        .sort(*BREAKDOWN_KEYS, "step")
    )
