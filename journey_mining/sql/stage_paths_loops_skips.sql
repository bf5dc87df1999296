-- One row per breakdown (journey x persona, and every persona as $all_personas) per designed
-- stage: attempts that reached it, looped back to it, skipped it, or reached a later stage.
with designed_stages as (
{designed_stages}
),

attempt_stages as (
    select
        visits.journey_id,
        visits.persona_id,
        visits.person_key,
        visits.attempt_number,
        designed_stages.designed_position,
        count(*) as n_visits
    from marts.fct_stage_visits as visits
    inner join designed_stages
        on visits.journey_id = designed_stages.journey_id
        and visits.stage_id = designed_stages.stage_id
    group by all
),

attempt_furthest as (
    select
        journey_id,
        persona_id,
        person_key,
        attempt_number,
        max(designed_position) as furthest_position
    from attempt_stages
    group by all
),

stage_counts as (
    select
        attempt_stages.journey_id,
        if(grouping(attempt_stages.persona_id) = 1, $all_personas, attempt_stages.persona_id)
            as persona_id,
        attempt_stages.designed_position,
        count(*) as reached,
        count(*) filter (where attempt_stages.n_visits > 1) as loops,
        count(*) filter (
            where attempt_furthest.furthest_position > attempt_stages.designed_position
        ) as reached_and_later
    from attempt_stages
    inner join attempt_furthest
        on attempt_stages.person_key = attempt_furthest.person_key
        and attempt_stages.journey_id = attempt_furthest.journey_id
        and attempt_stages.attempt_number = attempt_furthest.attempt_number
    group by grouping sets (
        (attempt_stages.journey_id, attempt_stages.persona_id, attempt_stages.designed_position),
        (attempt_stages.journey_id, attempt_stages.designed_position)
    )
),

furthest_counts as (
    select
        journey_id,
        if(grouping(persona_id) = 1, $all_personas, persona_id) as persona_id,
        furthest_position,
        count(*) as attempts
    from attempt_furthest
    group by grouping sets ((journey_id, persona_id, furthest_position), (journey_id, furthest_position))
),

breakdowns as (
    select distinct journey_id, persona_id from marts.fct_stage_visits
    union
    select distinct journey_id, $all_personas as persona_id from marts.fct_stage_visits
),

breakdown_stages as (
    select
        breakdowns.journey_id,
        breakdowns.persona_id,
        designed_stages.stage_id,
        designed_stages.designed_position
    from breakdowns
    inner join designed_stages
        on breakdowns.journey_id = designed_stages.journey_id
),

later_counts as (
    select
        breakdown_stages.journey_id,
        breakdown_stages.persona_id,
        breakdown_stages.designed_position,
        cast(sum(furthest_counts.attempts) as bigint) as reached_later
    from breakdown_stages
    inner join furthest_counts
        on breakdown_stages.journey_id = furthest_counts.journey_id
        and breakdown_stages.persona_id = furthest_counts.persona_id
        and furthest_counts.furthest_position > breakdown_stages.designed_position
    group by all
),

final as (
    select
        -- ids
        breakdown_stages.journey_id,
        breakdown_stages.persona_id,
        breakdown_stages.stage_id,
        -- dimensions
        breakdown_stages.designed_position,
        -- measures
        coalesce(stage_counts.reached, 0) as reached,
        coalesce(stage_counts.loops, 0) as loops,
        coalesce(later_counts.reached_later, 0)
            - coalesce(stage_counts.reached_and_later, 0) as skipped,
        coalesce(later_counts.reached_later, 0) as reached_later
    from breakdown_stages
    left join stage_counts
        on breakdown_stages.journey_id = stage_counts.journey_id
        and breakdown_stages.persona_id = stage_counts.persona_id
        and breakdown_stages.designed_position = stage_counts.designed_position
    left join later_counts
        on breakdown_stages.journey_id = later_counts.journey_id
        and breakdown_stages.persona_id = later_counts.persona_id
        and breakdown_stages.designed_position = later_counts.designed_position
)

select
    journey_id,
    persona_id,
    stage_id,
    designed_position,
    reached,
    loops,
    loops / nullif(reached, 0) as loop_rate,
    skipped,
    reached_later,
    skipped / nullif(reached_later, 0) as skip_rate
from final
order by journey_id, persona_id, designed_position
