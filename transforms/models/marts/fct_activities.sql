{#
    Incremental by person: a window brings new activities and new identity links, and every
    person they touch is rebuilt whole, so back-filled person keys and per-person activity_seq
    stay equal to a full rebuild. delete+insert on event_id also removes the rows an
    identifier had under its previous person key.

    On Spark the stream is rebuilt whole: Parquet tables cannot delete rows, and a rebuild
    equals the incremental result by construction (with Delta or Iceberg, `merge` would do).
#}
{{
    config(
        materialized=('table' if target.type == 'spark' else 'incremental'),
        incremental_strategy='delete+insert',
        unique_key='event_id',
        on_schema_change='fail',
    )
}}

-- depends_on: {{ ref('int_identity_links') }}

with

activities as (

    select * from {{ ref('int_activities_unioned') }}

),

identities as (

    select * from {{ ref('int_identities_stitched') }}

),

{% if is_incremental() %}
links as (

    select * from {{ ref('int_identity_links') }}

),
{% endif %}

-- An activity's person is its user's, else its anonymous id's, else its contact's. Every
-- identifier of an activity is in int_identities_stitched (collected from the activities), so
-- the first one present finds the person: one join instead of one per identifier type.
activities_with_persons as (

    select
        activities.*,
        identities.person_key

    from activities
    left join identities
        on identities.identifier_type = case
            when activities.user_id is not null then 'user_id'
            when activities.anonymous_id is not null then 'anonymous_id'
            else 'contact_id'
        end
        and identities.identifier = coalesce(
            activities.user_id, activities.anonymous_id, activities.contact_id
        )

),

{% if is_incremental() and (var('min_date') or var('max_date')) %}
persons_in_window as (

    select person_key from activities_with_persons
    where {{ incremental_window_holds('ts') }}
    union
    select identities.person_key
    from links
    inner join identities
        on links.from_type = identities.identifier_type
        and links.from_id = identities.identifier
    where {{ incremental_window_holds('links.linked_at') }}
    union
    select identities.person_key
    from links
    inner join identities
        on identities.identifier_type = 'user_id'
        and links.to_user_id = identities.identifier
    where {{ incremental_window_holds('links.linked_at') }}

),

{% elif is_incremental() %}
-- No window given: rebuild every person whose activities differ from what is stored, that
-- is, who has an activity not stored yet (new or late-arriving, whatever its timestamp) or
-- whose activities now stitch to another person (a late identify or alias). Both the new
-- and the previous person of a re-stitched activity are rebuilt.
stored as (

    select event_id, person_key from {{ this }}

),

-- One join finds both: an activity not stored yet gives its person, and one stored under
-- another person gives the new person and the previous one.
changed_activities as (

    select
        current_rows.person_key,
        stored.person_key as stored_person_key

    from activities_with_persons as current_rows
    left join stored
        on current_rows.event_id = stored.event_id
    where stored.event_id is null
        or stored.person_key <> current_rows.person_key

),

persons_in_window as (

    select person_key from changed_activities
    union
    select stored_person_key as person_key from changed_activities
    where stored_person_key is not null

),

{% endif %}
{% if is_incremental() %}
scoped_activities as (

    select * from activities_with_persons
    where person_key in (select person_key from persons_in_window)

),
{% else %}
scoped_activities as (

    select * from activities_with_persons

),
{% endif %}

final as (

    select
        -- ids
        event_id,
        person_key,

        -- dimensions
        event,
        channel,
        properties,
        source,
        activity_source,
        source_file,
        source_line,

        -- measures
        cast(row_number() over (
            partition by person_key
            order by ts, activity_source, source_file, source_line, event_id
        ) as {{ dbt.type_bigint() }}) as activity_seq,

        -- timestamps
        ts

    from scoped_activities

)

select * from final
