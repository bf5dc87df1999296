{#
    The share of the activity stream no stage rule claims, per journey and activity source,
    with the most frequent unmatched event names: a rising share means new event names the
    journey models do not know yet.
#}
{% set top_unmatched_events = 10 %}

with

activities as (

    select * from {{ ref('fct_activities') }}

),

matched_activities as (

    select * from {{ ref('int_activities_matched_to_stages') }}

),

journeys as (

    select * from {{ ref('stg_journey__models') }}

),

-- Counted per event name on each side and subtracted, instead of joining every activity with
-- the matches (50M x 16M rows at 50M events: 4.8 s, against 0.6 s): each match is one
-- activity's, with its event and source (int_activities_matched_to_stages is built from
-- fct_activities, one row per event id and journey).
event_counts as (

    select
        activity_source,
        event,
        count(*) as n_activities

    from activities
    group by 1, 2

),

matched_event_counts as (

    select
        journey_id,
        activity_source,
        event,
        count(*) as n_matched_activities

    from matched_activities
    group by 1, 2, 3

),

events_per_journey as (

    select
        journeys.journey_id,
        event_counts.activity_source,
        event_counts.event,
        event_counts.n_activities,
        coalesce(matched_event_counts.n_matched_activities, 0) as n_matched_activities

    from journeys
    cross join event_counts
    left join matched_event_counts
        on journeys.journey_id = matched_event_counts.journey_id
        and event_counts.activity_source = matched_event_counts.activity_source
        and event_counts.event = matched_event_counts.event

),

unmatched_events as (

    select
        journey_id,
        activity_source,
        event,
        n_activities - n_matched_activities as n_activities,
        row_number() over (
            partition by journey_id, activity_source
            order by n_activities - n_matched_activities desc, event
        ) as event_rank

    from events_per_journey
    where n_activities > n_matched_activities

),

top_unmatched_events as (

    select
        journey_id,
        activity_source,
        {{ string_agg_ordered(
            dbt.concat(['event', "' ('", 'cast(n_activities as ' ~ dbt.type_string() ~ ')', "')'"]),
            ', ',
            'event_rank',
        ) }} as top_unmatched_events

    from unmatched_events
    where event_rank <= {{ top_unmatched_events }}
    group by 1, 2

),

coverage as (

    select
        journey_id,
        activity_source,
        cast(sum(n_activities) as {{ dbt.type_bigint() }}) as n_activities,
        cast(sum(n_matched_activities) as {{ dbt.type_bigint() }}) as n_matched_activities,
        cast(sum(n_activities - n_matched_activities) as {{ dbt.type_bigint() }}) as n_unmatched_activities

    from events_per_journey
    group by 1, 2

),

final as (

    select
        -- ids
        coverage.journey_id,
        coverage.activity_source,

        -- dimensions
        top_unmatched_events.top_unmatched_events,

        -- measures
        coverage.n_activities,
        coverage.n_matched_activities,
        coverage.n_unmatched_activities,
        cast(coverage.n_unmatched_activities as {{ type_double() }})
            / coverage.n_activities as unmatched_share

    from coverage
    left join top_unmatched_events
        on coverage.journey_id = top_unmatched_events.journey_id
        and coverage.activity_source = top_unmatched_events.activity_source

)

select * from final
