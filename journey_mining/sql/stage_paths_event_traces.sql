-- One row per journey attempt: the names of all the person's activities from the attempt's
-- entry to the end of its window (or the as-of time, if earlier), ordered by (ts, activity_seq).
select
    -- ids
    journeys.journey_id,
    journeys.persona_id,
    journeys.person_key,
    journeys.attempt_number,
    -- dimensions
    coalesce(
        list(activities.event order by activities.ts, activities.activity_seq)
            filter (where activities.event_id is not null),
        []
    ) as activities,
    journeys.status
from marts.fct_journeys as journeys
left join marts.fct_activities as activities
    on journeys.person_key = activities.person_key
    and activities.ts >= journeys.entered_at
    and activities.ts <= least(journeys.window_closes_at, journeys.as_of_at)
group by
    journeys.journey_id,
    journeys.persona_id,
    journeys.person_key,
    journeys.attempt_number,
    journeys.status
