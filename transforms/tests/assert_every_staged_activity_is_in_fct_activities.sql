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

staged_missing_from_stream as (

    select event_id, 'staged activity not in fct_activities' as problem
    from staged
    where event_id not in (select event_id from stream)

),

stream_rows_without_staged_row as (

    select event_id, 'fct_activities row without a staged activity' as problem
    from stream
    where event_id not in (select event_id from staged)

)

select * from product_events_missing_from_union
union all
select * from staged_missing_from_stream
union all
select * from stream_rows_without_staged_row
