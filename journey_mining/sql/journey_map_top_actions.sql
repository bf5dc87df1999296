-- The $top most frequent actions (event names) per breakdown (journey x persona x cohort, each
-- also as $all) and stage: activities, persons (attempts) doing it, and share of the stage's
-- activities. Ties go to the event name in byte order.
with stage_activities as (
{stage_activities}
),

-- one row per attempt, stage and event first: an attempt has one persona and one entry month,
-- so in every breakdown below each row is a distinct attempt and persons is a plain count
attempt_events as (
    select
        journey_id,
        persona_id,
        cohort,
        stage_id,
        event,
        person_key,
        attempt_number,
        count(*) as activities
    from stage_activities
    group by journey_id, persona_id, cohort, stage_id, event, person_key, attempt_number
),

by_event as (
    select
        journey_id,
        if(grouping(persona_id) = 1, $all, persona_id) as persona_id,
        if(grouping(cohort) = 1, $all, cohort) as cohort,
        stage_id,
        event,
        cast(sum(activities) as bigint) as activities,
        count(*) as persons
    from attempt_events
    group by grouping sets (
        (journey_id, persona_id, cohort, stage_id, event),
        (journey_id, persona_id, stage_id, event),
        (journey_id, cohort, stage_id, event),
        (journey_id, stage_id, event)
    )
),

ranked as (
    select
        *,
        activities / sum(activities) over by_stage as share,
        row_number() over (
            partition by journey_id, persona_id, cohort, stage_id
            order by activities desc, event
        ) as rank
    from by_event
    window by_stage as (partition by journey_id, persona_id, cohort, stage_id)
)

select
    -- ids
    journey_id,
    persona_id,
    cohort,
    stage_id,
    rank,
    event,
    -- measures
    activities,
    persons,
    share
from ranked
where rank <= $top
order by journey_id, persona_id, cohort, stage_id, rank
