-- The stage each activity is attributed to, once per journey attempt it falls in: the
-- attempt's latest stage visit (by visit_number) at or before the activity. An attempt holds
-- the activities from its entered_at to its window's close or its as-of time, whichever is
-- first (both included); visits outside that span place nothing, and other activities belong
-- to no stage. {activities} is the relation of activities to place (marts.fct_activities or
-- a part of it, with event_id, person_key and ts); its columns pass through, and the
-- attempt's journey_id, persona_id, cohort (entry month), attempt_number, attempt_key,
-- stage_id and stage_order are added, and any further columns of the visits the caller names
-- (the visits are marts.fct_stage_visits, or a relation over it with more columns).
--
-- Visit numbers follow visit times, so "the latest visit at or before ts" is the visit whose
-- span [visited_at, next_visit_at) holds ts: one range join of the activities with the visit
-- spans, each span clipped to its attempt (a visit starts at or after the attempt's
-- entered_at, so ts >= visited_at keeps ts inside the attempt too). Every visit carries its
-- attempt's span (attempt_entered_at, attempt_closes_at), so no join with fct_journeys is
-- needed. Of visits at one instant only the last has a non-empty span.
with visit_spans as (
    select
        person_key,
        journey_id,
        persona_id,
        strftime(attempt_entered_at, '%Y-%m') as cohort,
        attempt_number,
        attempt_key,
        stage_id,
        stage_order{carried},
        visited_at,
        next_visit_at,
        attempt_closes_at as closes_at
    from {visits}
    where visited_at >= attempt_entered_at
)

select
    activities.*,
    visit_spans.journey_id,
    visit_spans.persona_id,
    visit_spans.cohort,
    visit_spans.attempt_number,
    visit_spans.attempt_key,
    visit_spans.stage_id,
    visit_spans.stage_order{carried_out}
from {activities} as activities
inner join visit_spans
    on activities.person_key = visit_spans.person_key
    and activities.ts >= visit_spans.visited_at
    and (visit_spans.next_visit_at is null or activities.ts < visit_spans.next_visit_at)
    and activities.ts <= visit_spans.closes_at
