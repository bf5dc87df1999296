-- One row per journey attempt: its person's activities from the attempt's entry to the end of
-- its window (or the as-of time, if earlier), ordered by (ts, activity_seq), as event codes:
-- each event name's position in activity_names.names, in byte order of the names.
event_codes as (
    select event, cast(row_number() over (order by event) as integer) as code
    from (select distinct event from marts.fct_activities) as events
),

activity_names as (
    select list(event order by code) as names
    from event_codes
),

-- each person's activities once, sorted by (ts, activity_seq); each attempt takes its span
person_events as (
    select
        activities.person_key,
        list_sort(
            list(
                struct_pack(
                    ts := activities.ts,
                    seq := activities.activity_seq,
                    code := event_codes.code
                )
            )
        ) as events
    from marts.fct_activities as activities
    left join event_codes
        on activities.event = event_codes.event
    group by activities.person_key
),

traces as (
    select
        -- ids
        journeys.journey_id,
        journeys.persona_id,
        journeys.person_key,
        journeys.attempt_number,
        -- dimensions
        coalesce(
            list_transform(
                list_filter(
                    person_events.events,
                    lambda event: event.ts >= journeys.entered_at
                    and event.ts <= least(journeys.window_closes_at, journeys.as_of_at)
                ),
                lambda event: event.code
            ),
            []
        ) as activities,
        journeys.status
    from marts.fct_journeys as journeys
    left join person_events
        on journeys.person_key = person_events.person_key
)
