-- Per breakdown (journey x persona x cohort, each also as $all), stage and value (the event or
-- the channel, put in for the placeholder): the activities placed there and the attempts
-- ("persons") with at least one. A null value is its own group. Reads the placed activities
-- (sql/stage_activity_slots.sql) and their breakdown and value code tables.
--
-- Millions of (attempt, stage, value) combinations are counted first, each packed into one
-- integer (the activity's slot, then the value's code), which DuckDB groups several times
-- faster than separate columns. An attempt has one persona and one entry month, so the
-- attempts of a finer breakdown add up to those of a coarser one.
-- the slots' sizes are read from the table they were packed with, so the unpacking matches
with sizes as (
    select
        stages,
        attempts,
        (select count(*) + 1 from {codes}) as codes
    from {sizes}
),

-- one row per attempt, stage and value
attempt_values as (
    select
        slots.slot * sizes.codes + slots.{value}_code as packed,
        count(*) as activities
    from {slots} as slots
    cross join sizes
    group by packed
),

breakdown_values as (
    select
        attempt_values.packed // (sizes.attempts * sizes.stages * sizes.codes)
            as breakdown_index,
        (attempt_values.packed // sizes.codes) % sizes.stages as stage_order,
        attempt_values.packed % sizes.codes as code,
        sum(attempt_values.activities) as activities,
        count(*) as persons
    from attempt_values
    cross join sizes
    group by 1, 2, 3
),

by_code as (
    select
        breakdowns.journey_id,
        if(grouping(breakdowns.persona_id) = 1, $all, breakdowns.persona_id) as persona_id,
        if(grouping(breakdowns.cohort) = 1, $all, breakdowns.cohort) as cohort,
        breakdown_values.stage_order,
        breakdown_values.code,
        cast(sum(breakdown_values.activities) as bigint) as activities,
        cast(sum(breakdown_values.persons) as bigint) as persons
    from breakdown_values
    inner join {breakdowns} as breakdowns
        on breakdown_values.breakdown_index = breakdowns.breakdown_index
    group by grouping sets (
        (breakdowns.journey_id, breakdowns.persona_id, breakdowns.cohort,
            breakdown_values.stage_order, breakdown_values.code),
        (breakdowns.journey_id, breakdowns.persona_id,
            breakdown_values.stage_order, breakdown_values.code),
        (breakdowns.journey_id, breakdowns.cohort,
            breakdown_values.stage_order, breakdown_values.code),
        (breakdowns.journey_id, breakdown_values.stage_order, breakdown_values.code)
    )
)

select
    by_code.journey_id,
    by_code.persona_id,
    by_code.cohort,
    stages.stage_id,
    codes.value as {value},
    by_code.activities,
    by_code.persons
from by_code
inner join marts.dim_journey_stages as stages
    on by_code.journey_id = stages.journey_id
    and by_code.stage_order = stages.stage_order
left join {codes} as codes
    on by_code.code = codes.code
