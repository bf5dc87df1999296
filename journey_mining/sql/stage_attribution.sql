-- The stage each activity is attributed to, once per journey attempt it falls in: the
-- attempt's latest stage visit (by visit_number) at or before the activity. An attempt holds
-- the activities from its entered_at to its window's close or its as-of time, whichever is
-- first (both included); visits outside that span place nothing, and other activities belong
-- to no stage. {activities} is the relation of activities to place (marts.fct_activities or
-- a part of it, with event_id, person_key and ts); its columns pass through, and the
-- attempt's journey_id, persona_id, cohort (entry month), attempt_number and stage_id are
-- added.
select
    activities.*,
    journeys.journey_id,
    journeys.persona_id,
    strftime(journeys.entered_at, '%Y-%m') as cohort,
    journeys.attempt_number,
    visits.stage_id
from {activities} as activities
inner join marts.fct_journeys as journeys
    on activities.person_key = journeys.person_key
    and activities.ts >= journeys.entered_at
    and activities.ts <= least(journeys.window_closes_at, journeys.as_of_at)
inner join marts.fct_stage_visits as visits
    on journeys.journey_id = visits.journey_id
    and journeys.person_key = visits.person_key
    and journeys.attempt_number = visits.attempt_number
    and visits.visited_at >= journeys.entered_at
    and visits.visited_at <= activities.ts
qualify row_number() over (
    partition by
        journeys.journey_id, journeys.person_key, journeys.attempt_number, activities.event_id
    order by visits.visit_number desc
) = 1
