-- One row per variant per breakdown (journey x persona, and every persona as $all_personas):
-- attempts, their share, rank, cumulative share and outcomes. The traces query (a stage or
-- an event traces file) gives one row per attempt: journey_id, persona_id, activities, status.
with traces as (
{traces}
),

variants_by_persona as (
    select
        journey_id,
        persona_id,
        activities,
        count(*) as persons,
        count(*) filter (where status = 'converted') as converted,
        count(*) filter (where status = 'dropped') as dropped,
        count(*) filter (where status = 'in_progress') as in_progress
    from traces
    group by journey_id, persona_id, activities
),

variants_by_breakdown as (
    select * from variants_by_persona
    union all
    select
        journey_id,
        $all_personas as persona_id,
        activities,
        cast(sum(persons) as bigint) as persons,
        cast(sum(converted) as bigint) as converted,
        cast(sum(dropped) as bigint) as dropped,
        cast(sum(in_progress) as bigint) as in_progress
    from variants_by_persona
    group by journey_id, activities
),

ranked as (
    select
        *,
        array_to_string(activities, ' > ') as variant,
        row_number() over by_rank as rank,
        cast(sum(persons) over by_rank as bigint) as cumulative_persons,
        cast(sum(persons) over by_breakdown as bigint) as breakdown_persons,
        count(*) over by_breakdown as distinct_variants
    from variants_by_breakdown
    window
        by_breakdown as (partition by journey_id, persona_id),
        by_rank as (
            partition by journey_id, persona_id
            order by persons desc, array_to_string(activities, ' > '), activities
            rows between unbounded preceding and current row
        )
)

select
    -- ids
    journey_id,
    persona_id,
    rank,
    -- dimensions
    variant,
    activities,
    array_length(activities) as length,
    -- measures
    persons,
    persons / breakdown_persons as share,
    cumulative_persons / breakdown_persons as cumulative_share,
    5 * (cumulative_persons - persons) < 4 * breakdown_persons as in_top_80,
    converted,
    dropped,
    in_progress,
    distinct_variants
from ranked
where $top is null or rank <= $top
order by journey_id, persona_id, rank
