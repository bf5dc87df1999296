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
--
-- Why a summary first: that join costs most of the test (a 50M x 50M join at 50M events).
-- Two passes without it find whether there is anything to report: the staged (event id,
-- person) pairs and the stream's are the same rows when both sides count and fingerprint
-- alike (fingerprint_sum). Staged event ids are unique when the staging models' unique tests
-- passed (dbt build runs those first) and no product event id takes a CRM prefix of the union,
-- so equal sides mean no copy in the stream either. Only when the summary differs does the
-- join run, to name the failing rows.

-- Dagster shows it as a check on fct_activities.
{{ config(meta={'dagster': {'ref': {'name': 'fct_activities'}}}) }}

{%- set staged_with_persons -%}
    -- the person each staged activity belongs to: its first identifier's, as fct_activities says
    select
        staged.event_id,
        staged.activity_source,
        identities.person_key

    from {{ ref('int_activities_unioned') }} as staged
    left join {{ ref('int_identities_stitched') }} as identities
        on {{ activity_identity_matches('staged', 'identities') }}
{%- endset -%}

{%- set summary -%}
    with

    staged_with_persons as (
        {{ staged_with_persons }}
    ),

    staged_side as (
        select
            count(*) as n_rows,
            count(event_id) as n_event_ids,
            {{ fingerprint_sum(['event_id', 'person_key']) }} as fingerprint,
            count(case when activity_source = 'product' then 1 end) as n_product,
            count(
                case when activity_source = 'product' and substring(event_id, 1, 4) = 'crm_' then 1 end
            ) as n_product_ids_like_crm
        from staged_with_persons
    ),

    stream_side as (
        select
            count(*) as n_rows,
            {{ fingerprint_sum(['event_id', 'person_key']) }} as fingerprint
        from {{ ref('fct_activities') }}
    ),

    product_events as (
        select count(*) as n_rows from {{ ref('stg_product__events') }}
    )

    select
        staged_side.n_rows = stream_side.n_rows
        and staged_side.n_event_ids = staged_side.n_rows
        and staged_side.fingerprint = stream_side.fingerprint
        and staged_side.n_product = product_events.n_rows
        and staged_side.n_product_ids_like_crm = 0 as sides_agree

    from staged_side
    cross join stream_side
    cross join product_events
{%- endset -%}

{%- set sides_agree = execute and run_query(summary).columns[0].values()[0] %}

{% if sides_agree -%}
-- The summary found both sides equal: nothing to report.
select
    cast(null as {{ dbt.type_string() }}) as event_id,
    cast(null as {{ dbt.type_string() }}) as problem
from {{ ref('stg_product__events') }}
where 1 = 0
{%- else -%}
with

staged as (

    select * from {{ ref('int_activities_unioned') }}

),

product_events as (

    select event_id from {{ ref('stg_product__events') }}

),

stream as (

    select event_id, person_key from {{ ref('fct_activities') }}

),

staged_with_persons as (

    {{ staged_with_persons }}

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
{%- endif %}
