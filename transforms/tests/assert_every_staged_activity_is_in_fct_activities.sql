-- A failing row is a staged product event or CRM touchpoint that is missing from
-- fct_activities (lost between staging and the activity stream), or an activity stream row
-- that no staged row explains.

-- Dagster shows it as a check on fct_activities.
{{ config(meta={'dagster': {'ref': {'name': 'fct_activities'}}}) }}

with

staged as (

    select event_id from {{ ref('int_activities_unioned') }}

),

product_events as (

    select event_id from {{ ref('stg_product__events') }}

),

stream as (

    select event_id from {{ ref('fct_activities') }}

),

product_events_missing_from_union as (

    select event_id, 'staged product event not in int_activities_unioned' as problem
    from product_events
    where event_id not in (select event_id from staged)

),

-- one join of both sides finds what either lacks
staged_and_stream as (

    select
        staged.event_id as staged_event_id,
        stream.event_id as stream_event_id

    from staged
    full outer join stream
        on staged.event_id = stream.event_id
    where staged.event_id is null
        or stream.event_id is null

),

stream_mismatches as (

    select
        coalesce(staged_event_id, stream_event_id) as event_id,
        case
            when stream_event_id is null then 'staged activity not in fct_activities'
            else 'fct_activities row without a staged activity'
        end as problem

    from staged_and_stream

)

select * from product_events_missing_from_union
union all
select * from stream_mismatches
