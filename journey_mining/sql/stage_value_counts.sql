-- Per breakdown (journey x persona x cohort, each also as $all), stage and value (a column of
-- marts.fct_activities, event or channel, put in for the placeholder): the activities placed
-- there by the stage attribution (sql/stage_attribution.sql, inserted as stage_activities)
-- and the attempts ("persons") with at least one. A null value is its own group.
--
-- Millions of (attempt, stage, value) combinations are counted first. Each is packed into one
-- integer from the attempt's attempt_key, the stage's order and the value's code, which DuckDB
-- groups several times faster than the three columns; the sizes of the parts come from the
-- data, so two combinations never share an integer.
with value_codes as (
    select value, cast(row_number() over (order by value) as bigint) as code
    from (select distinct {value} as value from marts.fct_activities where {value} is not null)
        as found
),

key_sizes as (
    select
        (select max(stage_order) + 1 from marts.dim_journey_stages) as stages,
        (select count(*) + 1 from value_codes) as codes
),

stage_activities as (
{stage_activities}
),

-- one row per attempt, stage and value (code 0 for a null value)
attempt_values as (
    select
        (stage_activities.attempt_key * key_sizes.stages + stage_activities.stage_order)
        * key_sizes.codes
        + coalesce(value_codes.code, 0) as packed,
        count(*) as activities
    from stage_activities
    cross join key_sizes
    left join value_codes
        on stage_activities.{value} = value_codes.value
    group by packed
),

attempts as (
    select
        attempt_key,
        journey_id,
        persona_id,
        strftime(entered_at, '%Y-%m') as cohort
    from marts.fct_journeys
),

-- an attempt has one persona and one entry month, so in every breakdown each row is a
-- distinct attempt and persons is a plain count
by_code as (
    select
        attempts.journey_id,
        if(grouping(attempts.persona_id) = 1, $all, attempts.persona_id) as persona_id,
        if(grouping(attempts.cohort) = 1, $all, attempts.cohort) as cohort,
        (attempt_values.packed // key_sizes.codes) % key_sizes.stages as stage_order,
        attempt_values.packed % key_sizes.codes as code,
        cast(sum(attempt_values.activities) as bigint) as activities,
        count(*) as persons
    from attempt_values
    cross join key_sizes
    inner join attempts
        on attempt_values.packed // (key_sizes.stages * key_sizes.codes) = attempts.attempt_key
    group by grouping sets (
        (attempts.journey_id, attempts.persona_id, attempts.cohort, stage_order, code),
        (attempts.journey_id, attempts.persona_id, stage_order, code),
        (attempts.journey_id, attempts.cohort, stage_order, code),
        (attempts.journey_id, stage_order, code)
    )
)

select
    by_code.journey_id,
    by_code.persona_id,
    by_code.cohort,
    stages.stage_id,
    value_codes.value as {value},
    by_code.activities,
    by_code.persons
from by_code
inner join marts.dim_journey_stages as stages
    on by_code.journey_id = stages.journey_id
    and by_code.stage_order = stages.stage_order
left join value_codes
    on by_code.code = value_codes.code
