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

activities_per_journey as (

    select
        journeys.journey_id,
        activities.event_id,
        activities.activity_source,
        activities.event,
        matched_activities.event_id is not null as is_matched

    from journeys
    cross join activities
    left join matched_activities
        on journeys.journey_id = matched_activities.journey_id
        and activities.event_id = matched_activities.event_id

),

unmatched_events as (

    select
        journey_id,
        activity_source,
        event,
        count(*) as n_activities,
        row_number() over (
            partition by journey_id, activity_source
            order by count(*) desc, event
        ) as event_rank

    from activities_per_journey
    where not is_matched
    group by 1, 2, 3

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
        count(*) as n_activities,
        cast(sum(case when is_matched then 1 else 0 end) as {{ dbt.type_bigint() }}) as n_matched_activities,
        cast(sum(case when is_matched then 0 else 1 end) as {{ dbt.type_bigint() }}) as n_unmatched_activities

    from activities_per_journey
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
