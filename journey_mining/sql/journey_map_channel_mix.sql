-- One row per breakdown (journey x persona x cohort, each also as $all) x stage x channel:
-- the activities in that stage on that channel and their share of the stage's activities.
with stage_activities as (
{stage_activities}
),

-- one row per attempt, stage and channel first: an attempt has one persona and one entry month,
-- so in every breakdown below each row is a distinct attempt and persons is a plain count
attempt_channels as (
    select
        journey_id,
        persona_id,
        cohort,
        stage_id,
        channel,
        person_key,
        attempt_number,
        count(*) as activities
    from stage_activities
    group by journey_id, persona_id, cohort, stage_id, channel, person_key, attempt_number
),

by_channel as (
    select
        journey_id,
        if(grouping(persona_id) = 1, $all, persona_id) as persona_id,
        if(grouping(cohort) = 1, $all, cohort) as cohort,
        stage_id,
        channel,
        cast(sum(activities) as bigint) as activities,
        count(*) as persons
    from attempt_channels
    group by grouping sets (
        (journey_id, persona_id, cohort, stage_id, channel),
        (journey_id, persona_id, stage_id, channel),
        (journey_id, cohort, stage_id, channel),
        (journey_id, stage_id, channel)
    )
)

select
    -- ids
    journey_id,
    persona_id,
    cohort,
    stage_id,
    channel,
    -- measures
    activities,
    persons,
    activities / sum(activities) over by_stage as share
from by_channel
window by_stage as (partition by journey_id, persona_id, cohort, stage_id)
order by journey_id, persona_id, cohort, stage_id, activities desc, channel
