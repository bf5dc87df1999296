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

traces as (
    select
        -- ids
        journeys.journey_id,
        journeys.persona_id,
        journeys.person_key,
        journeys.attempt_number,
        -- dimensions
        -- gathered unordered, then each list sorted whole: cheaper than an ordered aggregate
        coalesce(
            list_transform(
                list_sort(
                    list(
                        struct_pack(
                            ts := activities.ts,
                            seq := activities.activity_seq,
                            code := event_codes.code
                        )
                    ) filter (where activities.event_id is not null)
                ),
                lambda step: step.code
            ),
            []
        ) as activities,
        journeys.status
    from marts.fct_journeys as journeys
    left join marts.fct_activities as activities
        on journeys.person_key = activities.person_key
        and activities.ts >= journeys.entered_at
        and activities.ts <= least(journeys.window_closes_at, journeys.as_of_at)
    left join event_codes
        on activities.event = event_codes.event
    group by
        journeys.journey_id,
        journeys.persona_id,
        journeys.person_key,
        journeys.attempt_number,
        journeys.status
)
