"""How long each stage of the journey map takes: to the next stage, and before people leave.

Stalls are a pain point the map has to show, and a median over converters alone hides the
people still waiting. So besides the converters' median and p90, a Kaplan-Meier median counts
everyone who reached the stage in order, the not-yet-converted as censored. Times come from the
same ordered chain as :func:`journey_mining.metrics.stage_funnel.stage_funnel`, per journey,
persona (plus ``'all'``) and entry month (plus ``'all'``).
"""

from __future__ import annotations

import polars as pl

from journey_mining.metrics.stage_funnel import (
    ALL,
    BREAKDOWN_KEYS,
    attempt_ctes,
    breakdown_columns,
    by_breakdown,
    chain_sql,
    funnel_from,
)
from journey_mining.metrics.stats import km_median_rollup
from journey_mining.warehouse import Source, Warehouse, as_warehouse

__all__ = ["stage_funnel_and_timing", "stage_timing"]

_SECONDS_PER_HOUR = 3600.0

_STEP_DURATIONS = """,

-- One row per attempt and chain step before the last designed one: the time to the chain's
-- next step (converted: every step after the first closes the one before it) or, censored,
-- from the chain's last step to the window's close or the as-of time.
chain_durations as (
    select
        attempts.journey_id,
        attempts.persona_id,
        attempts.cohort,
        chain.step - 1 as step,
        true as converted,
        (epoch_us(chain.reached_at) - epoch_us(chain.previous_reached_at)) / 1e6 as duration_s
    from chain
    inner join attempts
        on chain.attempt_key = attempts.attempt_key
    where chain.step > 1

    union all

    select
        attempts.journey_id,
        attempts.persona_id,
        attempts.cohort,
        ordered.ordered_steps as step,
        false as converted,
        (
            epoch_us(least(attempts.window_closes_at, attempts.as_of_at))
            - epoch_us(ordered.last_reached_at)
        ) / 1e6 as duration_s
    from ordered
    inner join attempts
        on ordered.attempt_key = attempts.attempt_key
    inner join path_steps
        on attempts.journey_id = path_steps.journey_id
        and ordered.ordered_steps = path_steps.step
    where ordered.ordered_steps < path_steps.n_steps
)

select * from chain_durations
"""

_TIMING_SQL = (
    """,

timed_steps as (
    select
        breakdowns.journey_id,
        breakdowns.persona_id,
        breakdowns.cohort,
        path_steps.stage_id,
        path_steps.step,
        lead(path_steps.stage_id) over (
            partition by breakdowns.journey_id, breakdowns.persona_id, breakdowns.cohort
            order by path_steps.step
        ) as next_stage_id,
        path_steps.n_steps
    from breakdowns
    inner join path_steps
        on breakdowns.journey_id = path_steps.journey_id
),

conversion_times as (
    select
        chain_durations.journey_id,
        """
    + breakdown_columns("chain_durations")
    + """,
        chain_durations.step,
        count(*) as converters,
        quantile_cont(chain_durations.duration_s, 0.5) as median_s,
        quantile_cont(chain_durations.duration_s, 0.9) as p90_s
    from chain_durations
    where chain_durations.converted
    """
    + by_breakdown("chain_durations", "chain_durations.step")
    + """
),

dropoff_times as (
    select
        attempts.journey_id,
        """
    + breakdown_columns("attempts")
    + """,
        stage_events.stage_id,
        count(*) as dropoffs,
        quantile_cont(
            (epoch_us(stage_events.last_activity_at) - epoch_us(stage_events.first_reached_at))
            / 1e6,
            0.5
        ) as dropoff_median_s
    from attempts
    inner join marts.fct_stage_events as stage_events
        on attempts.journey_id = stage_events.journey_id
        and attempts.person_key = stage_events.person_key
        and attempts.attempt_number = stage_events.attempt_number
        and attempts.furthest_stage_id = stage_events.stage_id
    where attempts.status = 'dropped'
    """
    + by_breakdown("attempts", "stage_events.stage_id")
    + """
)

select
    timed_steps.journey_id,
    timed_steps.persona_id,
    timed_steps.cohort,
    timed_steps.stage_id,
    stages.stage_order,
    timed_steps.step,
    timed_steps.next_stage_id,
    coalesce(conversion_times.converters, 0) as converters,
    conversion_times.median_s / $hour as median_hours,
    conversion_times.p90_s / $hour as p90_hours,
    coalesce(dropoff_times.dropoffs, 0) as dropoffs,
    dropoff_times.dropoff_median_s / $hour as dropoff_median_hours_in_stage
from timed_steps
left join conversion_times
    on timed_steps.journey_id = conversion_times.journey_id
    and timed_steps.persona_id = conversion_times.persona_id
    and timed_steps.cohort = conversion_times.cohort
    and timed_steps.step = conversion_times.step
left join dropoff_times
    on timed_steps.journey_id = dropoff_times.journey_id
    and timed_steps.persona_id = dropoff_times.persona_id
    and timed_steps.cohort = dropoff_times.cohort
    and timed_steps.stage_id = dropoff_times.stage_id
left join marts.dim_journey_stages as stages
    on timed_steps.journey_id = stages.journey_id
    and timed_steps.stage_id = stages.stage_id
where timed_steps.step < timed_steps.n_steps
"""
)

_KM_GROUPS = """,

-- Journeys, personas and entry months as small integers (0 for $all) and the room each needs:
-- a Kaplan-Meier group (breakdown and step) is one integer computed from them, so each
-- duration gets its group under all four of its breakdowns without joining millions of rows
-- four times, and the curves group and sort on that integer instead of four keys.
km_journeys as (
    select journey_id, row_number() over (order by journey_id) as idx
    from (select distinct journey_id from attempts) as found
),

km_personas as (
    select persona_id, row_number() over (order by persona_id) as idx
    from (select distinct persona_id from attempts) as found
),

km_cohorts as (
    select cohort, row_number() over (order by cohort) as idx
    from (select distinct cohort from attempts) as found
),

km_sizes as (
    select
        (select count(*) + 1 from km_personas) as personas,
        (select count(*) + 1 from km_cohorts) as cohorts,
        (select max(step) + 1 from path_steps) as steps
),

km_groups as (
    select
        breakdowns.journey_id,
        breakdowns.persona_id,
        breakdowns.cohort,
        path_steps.step,
        ((km_journeys.idx * km_sizes.personas + coalesce(km_personas.idx, 0)) * km_sizes.cohorts
        + coalesce(km_cohorts.idx, 0)) * km_sizes.steps + path_steps.step as group_id
    from breakdowns
    inner join path_steps
        on breakdowns.journey_id = path_steps.journey_id
    inner join km_journeys
        on breakdowns.journey_id = km_journeys.journey_id
    left join km_personas
        on breakdowns.persona_id != $all
        and breakdowns.persona_id = km_personas.persona_id
    left join km_cohorts
        on breakdowns.cohort != $all
        and breakdowns.cohort = km_cohorts.cohort
    cross join km_sizes
)
"""

# Each duration once, with the Kaplan-Meier group it counts in under each breakdown: its own
# persona x month, all months, all personas, and both (index 0 in km_groups' arithmetic).
_KM_INPUT_SQL = (
    _KM_GROUPS
    + """
select
    """
    + ",\n    ".join(
        f"((km_journeys.idx * km_sizes.personas + {persona}) * km_sizes.cohorts + {cohort})"
        f" * km_sizes.steps + chain_durations.step as {alias}"
        for alias, persona, cohort in (
            ("own_group", "km_personas.idx", "km_cohorts.idx"),
            ("all_months_group", "km_personas.idx", "0"),
            ("all_personas_group", "0", "km_cohorts.idx"),
            ("everyone_group", "0", "0"),
        )
    )
    + """,
    chain_durations.duration_s,
    chain_durations.converted
from chain_durations
inner join km_journeys
    on chain_durations.journey_id = km_journeys.journey_id
inner join km_personas
    on chain_durations.persona_id = km_personas.persona_id
inner join km_cohorts
    on chain_durations.cohort = km_cohorts.cohort
cross join km_sizes
"""
)

_KM_LEVELS = ("own_group", "all_months_group", "all_personas_group", "everyone_group")

_COLUMNS = (
    *BREAKDOWN_KEYS,
    "stage_id",
    "stage_order",
    "step",
    "next_stage_id",
    "converters",
    "median_hours",
    "p90_hours",
    "km_n",
    "km_median_hours",
    "dropoffs",
    "dropoff_median_hours_in_stage",
)


def stage_timing(con: Source) -> pl.DataFrame:
    """Time to the next designed stage and time in stage before drop-off.

    Parameters
    ----------
    con
        A connection to the database holding the ``marts`` schema.

    Returns
    -------
    pl.DataFrame
        One row per journey x persona x cohort x designed stage except the final one, sorted
        by those and ``step``:

        - ``stage_id``, ``stage_order``, ``step`` and ``next_stage_id`` (the next stage of
          the designed path);
        - ``converters``: attempts whose ordered chain went on to the next stage (the funnel's
          ``converted``); ``median_hours`` and ``p90_hours`` of their time from reaching this
          stage to reaching the next, both taken from the chain (FUNNELS.md: the gaps between
          the chain's step visits), by linear interpolation (even n: mean of the middle two);
        - ``km_n`` and ``km_median_hours``: the Kaplan-Meier median over every attempt that
          reached the stage in order (``km_n`` of them). Converters are events; attempts still
          in their window are censored at the as-of time, and attempts whose window closed
          without converting are censored at the window's close, the last moment they could
          have converted. The estimate is therefore the time by which half of those who reach
          the stage reach the next one within the window; it is null when, counting the
          censored, fewer than half are estimated to get there;
        - ``dropoffs``: the attempts lost here (the funnel's ``lost_here``: furthest stage,
          journey status ``'dropped'``); ``dropoff_median_hours_in_stage``: the median of
          their time from first reaching the stage to their last activity in it.
    """
    warehouse = as_warehouse(con)
    return _timing_from(warehouse, attempt_ctes(warehouse))


def stage_funnel_and_timing(con: Source) -> tuple[pl.DataFrame, pl.DataFrame]:
    """:func:`~journey_mining.metrics.stage_funnel.stage_funnel` and :func:`stage_timing`.

    Both read the same ordered chain; built once here and kept for both, it is most of the
    funnel's work.
    """
    warehouse = as_warehouse(con)
    with warehouse.temporary("stage_chain", chain_sql(warehouse), {"all": ALL}) as chain:
        ctes = attempt_ctes(warehouse, chain_table=chain)
        return funnel_from(warehouse, ctes), _timing_from(warehouse, ctes)


def _timing_from(warehouse: Warehouse, ctes: str) -> pl.DataFrame:
    params = {"all": ALL}
    # both queries read the chain's durations: computed once (the chain is most of the work)
    with warehouse.temporary("chain_durations", ctes + _STEP_DURATIONS, params) as table:
        ctes += f",\n\nchain_durations as (\n    select * from {table}\n)\n"
        timing = warehouse.frame(ctes + _TIMING_SQL, {**params, "hour": _SECONDS_PER_HOUR})
        durations = warehouse.frame(ctes + _KM_INPUT_SQL, params)
        groups = warehouse.frame(ctes + _KM_GROUPS + "select * from km_groups", params)
    keys = [*BREAKDOWN_KEYS, "step"]
    km = (
        km_median_rollup(durations, groups=_KM_LEVELS, duration="duration_s", event="converted")
        .join(groups, on="group_id", how="inner")
        .select(*keys, "km_n", km_median_hours=pl.col("km_median") / _SECONDS_PER_HOUR)
    )
    return (
        timing.join(km, on=keys, how="left")
        .with_columns(pl.col("km_n").fill_null(0))
        .select(_COLUMNS)
        .sort(*keys)
    )
