-- One row per activity that falls in a stage visit: an activity belongs to the visit whose
-- visited_at it follows, up to the attempt's next visit (exclusive) or, for the last visit, to
-- the end of the attempt's window or its as-of time (inclusive). Activities outside every
-- attempt belong to no stage. cohort is the attempt's entry month.
select
    -- ids
    visits.journey_id,
    visits.persona_id,
    strftime(journeys.entered_at, '%Y-%m') as cohort,
    visits.stage_id,
    visits.person_key,
    visits.attempt_number,
    -- dimensions
    activities.channel,
    activities.event
from marts.fct_stage_visits as visits
inner join marts.fct_journeys as journeys
    on visits.person_key = journeys.person_key
    and visits.journey_id = journeys.journey_id
    and visits.attempt_number = journeys.attempt_number
inner join marts.fct_activities as activities
    on visits.person_key = activities.person_key
    and activities.ts >= visits.visited_at
    and (
        activities.ts < visits.next_visit_at
        or (
            visits.next_visit_at is null
            and activities.ts <= least(journeys.window_closes_at, journeys.as_of_at)
        )
    )
