-- A failing row is an event id that fct_activities does not hold once, under the person its
-- identifiers stitch to: a staged product event or CRM touchpoint missing from the stream, a
-- stream row that no staged activity explains, an event id staged or streamed twice, or an
-- activity under another person than the current stitching gives (a late identify or alias
-- that an incremental run missed). Also fails when int_activities_unioned holds fewer or more
-- product events than staging.
--
-- Why one test: one join of the sides finds all of it (with the row counts below), where
-- uniqueness tests on each side, a join between the sides and a join of the stream with the
-- staged identifiers read the activities five times.

-- Dagster shows it as a check on fct_activities.
{{ config(meta={'dagster': {'ref': {'name': 'fct_activities'}}}) }}

with

staged as (

    select * from {{ ref('int_activities_unioned') }}

),

product_events as (

    select event_id from {{ ref('stg_product__events') }}

),

identities as (

    select * from {{ ref('int_identities_stitched') }}

),

stream as (

    select event_id, person_key from {{ ref('fct_activities') }}

),

-- the person each staged activity belongs to: its first identifier's, as fct_activities says
staged_with_persons as (

    select
        staged.event_id,
        identities.person_key

    from staged
    left join identities
        on {{ activity_identity_matches('staged', 'identities') }}

),

-- one join of both sides finds what either lacks and whose person differs
joined as (

    select
        staged_with_persons.event_id as staged_event_id,
        stream.event_id as streamed_event_id,
        staged_with_persons.person_key as staged_person_key,
        stream.person_key as streamed_person_key

    from staged_with_persons
    full outer join stream
        on staged_with_persons.event_id = stream.event_id

),

event_id_mismatches as (

    select
        coalesce(staged_event_id, streamed_event_id) as event_id,
        case
            when staged_event_id is null and streamed_event_id is null
                then 'staged activity without an event id'
            when streamed_event_id is null then 'staged activity not in fct_activities'
            when staged_event_id is null then 'fct_activities row without a staged activity'
            else 'activity under another person than its identifiers stitch to'
        end as problem

    from joined
    where staged_event_id is null
        or streamed_event_id is null
        or coalesce(staged_person_key, '') <> coalesce(streamed_person_key, '')

),

-- An event id held s times in staging and t times in the stream joins s * t times: at least
-- t, and equal only when s = 1 (and at least s, equal only when t = 1). So over the ids found
-- on both sides, the join's count against each side's count finds a copy on the other side,
-- where grouping both sides by event id took half again as long as the whole test.
row_counts as (

    select
        (select count(*) from staged) as n_staged,
        (select count(*) from staged where activity_source = 'product') as n_staged_product,
        (select count(*) from product_events) as n_product_events,
        (select count(*) from stream) as n_streamed,
        count(case when staged_event_id is not null and streamed_event_id is not null then 1 end)
            as n_joined,
        count(case when streamed_event_id is null then 1 end) as n_staged_unmatched,
        count(case when staged_event_id is null and streamed_event_id is not null then 1 end)
            as n_streamed_unmatched

    from joined

),

count_mismatches as (

    select
        cast(null as {{ dbt.type_string() }}) as event_id,
        'an event id is held twice in int_activities_unioned' as problem
    from row_counts
    where n_joined > n_streamed - n_streamed_unmatched
    union all
    select
        cast(null as {{ dbt.type_string() }}) as event_id,
        'an event id is held twice in fct_activities' as problem
    from row_counts
    where n_joined > n_staged - n_staged_unmatched
    union all
    select
        cast(null as {{ dbt.type_string() }}) as event_id,
        'int_activities_unioned holds another number of product events than staging' as problem
    from row_counts
    where n_staged_product <> n_product_events

)

select * from event_id_mismatches
union all
select * from count_mismatches
