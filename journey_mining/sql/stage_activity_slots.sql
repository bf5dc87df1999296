-- One row per activity of marts.fct_activities placed in a stage (the stage attribution,
-- sql/stage_attribution.sql over coded_activities, inserted as stage_activities): its slot and the codes of its
-- event and its channel (from the two code tables; 0 for a null value). The map's top actions
-- and channel mix both count these rows, so the attribution's range join runs once for both.
--
-- A slot is one integer for (breakdown, attempt, stage):
-- (breakdown_index * attempts + attempt_key) * stages + stage_order, where breakdown_index
-- numbers the attempt's (journey, persona, entry month) in the breakdowns table. Counting on it needs
-- no join back to the attempts, and the sizes ({sizes}, from the data) keep two slots apart.
-- The index is put on the visits (a few per attempt), before the join with the activities.
with sizes as (
    select stages, attempts from {sizes}
),

-- the codes are looked up before the activities are placed: the planner cannot estimate the
-- size of the placement's range join and would build the lookup's hash table on it
coded_activities as materialized (
    select
        activities.person_key,
        activities.ts,
        coalesce(event_codes.code, 0) as event_code,
        coalesce(channel_codes.code, 0) as channel_code
    from marts.fct_activities as activities
    left join {event_codes} as event_codes
        on activities.event = event_codes.value
    left join {channel_codes} as channel_codes
        on activities.channel = channel_codes.value
),

visits as (
    select
        visits.*,
        (breakdowns.breakdown_index * sizes.attempts + visits.attempt_key) * sizes.stages
        + visits.stage_order as slot
    from marts.fct_stage_visits as visits
    cross join sizes
    inner join {breakdowns} as breakdowns
        on visits.journey_id = breakdowns.journey_id
        and visits.persona_id = breakdowns.persona_id
        and strftime(visits.attempt_entered_at, '%Y-%m') = breakdowns.cohort
),

stage_activities as (
{stage_activities}
)

select
    slot,
    event_code,
    channel_code
from stage_activities
