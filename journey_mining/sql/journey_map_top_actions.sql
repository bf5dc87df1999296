-- The $top most frequent actions (event names) per breakdown (journey x persona x cohort, each
-- also as $all) and stage: activities, persons (attempts) doing it, and share of the stage's
-- activities. Ties go to the event name in byte order.
with by_event as (
{stage_event_counts}
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
