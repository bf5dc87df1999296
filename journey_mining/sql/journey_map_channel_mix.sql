-- One row per breakdown (journey x persona x cohort, each also as $all) x stage x channel:
-- the activities in that stage on that channel and their share of the stage's activities.
with by_channel as (
{stage_channel_counts}
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
