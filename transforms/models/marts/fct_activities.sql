{#
    Incremental by person, equal to a full rebuild: every person with new activities or
    re-stitched identifiers is rebuilt whole, so back-filled person keys and per-person
    activity_seq stay right, except that a person whose new activities all come after its
    stored ones only appends them. delete+insert on event_id also removes the rows an
    identifier had under its previous person key. A run with min_date/max_date takes the
    activities and identity links of that window (and rebuilds); the scheduled refresh passes
    none and compares with the state the last build saved (incremental_state).

    On Spark the stream is rebuilt whole: Parquet tables cannot delete rows, and a rebuild
    equals the incremental result by construction (with Delta or Iceberg, `merge` would do).
#}
{{
    config(
        materialized=('table' if target.type == 'spark' else 'incremental'),
        incremental_strategy='delete+insert',
        unique_key='event_id',
        on_schema_change='fail',
        post_hook="{{ save_activity_stream_state() }}",
    )
}}

-- depends_on: {{ ref('int_identity_links') }}

{#- Incremental runs rebuild some persons; without a window or a saved state (a stream built
    before the state was kept) they rebuild every person. -#}
{%- set windowed = var('min_date') or var('max_date') -%}
{%- set scoped = is_incremental() and (
    windowed or load_relation(incremental_state('loads')) is not none
) %}

with

-- read twice by an incremental run (what changed, then the persons to rebuild): each read
-- scans only the columns it needs
activities as {{ not_materialized() }} (

    select * from {{ ref('int_activities_unioned') }}

),

identities as (

    select * from {{ ref('int_identities_stitched') }}

),

{% if scoped and windowed %}
links as (

    select * from {{ ref('int_identity_links') }}

),

persons_to_rebuild as (

    select identities.person_key
    from activities
    inner join identities
        on {{ activity_identity_matches('activities', 'identities') }}
    where {{ incremental_window_holds('activities.ts') }}
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

{% elif scoped %}
-- No window given: rebuild every person whose activities differ from what is stored, that
-- is, who has an activity loaded since the last build (new, late-arriving whatever its
-- timestamp, or re-sent) or whose identifiers now stitch to another person (a late identify
-- or alias). Both the new and the previous person of a re-stitched identifier are rebuilt.
-- The last build's loads and identities are its saved state (incremental_state).
last_build_loads as (

    select loaded_at from {{ incremental_state('loads') }}

),

last_build_identities as (

    select * from {{ incremental_state('identities') }}

),

restitched_identifiers as (

    select
        identities.person_key,
        last_build_identities.person_key as last_person_key

    from identities
    full outer join last_build_identities
        on identities.identifier_type = last_build_identities.identifier_type
        and identities.identifier = last_build_identities.identifier
    where identities.person_key is null
        or last_build_identities.person_key is null
        or identities.person_key <> last_build_identities.person_key

),

-- activities loaded since the last build (new, late whatever their timestamp, or re-sent)
new_activities as (

    select
        activities.*,
        identities.person_key

    from activities
    cross join last_build_loads
    inner join identities
        on {{ activity_identity_matches('activities', 'identities') }}
    where activities.loaded_at is null
        or last_build_loads.loaded_at is null
        or activities.loaded_at > last_build_loads.loaded_at

),

stored as {{ not_materialized() }} (

    select event_id, person_key, activity_seq, ts from {{ this }}

),

-- the stored activity count and newest timestamp of each person with a new activity
stored_tails as (

    select
        person_key,
        max(activity_seq) as n_stored,
        max(ts) as last_stored_at

    from stored
    where person_key in (select person_key from new_activities)
    group by person_key

),

-- A person whose new activities all come after its stored ones keeps those as they are and
-- appends the new ones (a day of traffic, mostly): only the new rows are written. The others
-- are rebuilt whole: a new activity at or before a stored one (late, or a tie), one stored
-- already (re-sent), or an identifier that now stitches elsewhere.
persons_to_rebuild as (

    select new_activities.person_key
    from new_activities
    inner join stored_tails
        on new_activities.person_key = stored_tails.person_key
    where new_activities.ts <= stored_tails.last_stored_at
    union
    select new_activities.person_key
    from new_activities
    inner join stored
        on new_activities.event_id = stored.event_id
    union
    select person_key from restitched_identifiers where person_key is not null
    union
    select last_person_key from restitched_identifiers where last_person_key is not null

),

appended_activities as (

    select
        new_activities.*,
        coalesce(stored_tails.n_stored, 0) as n_stored

    from new_activities
    left join stored_tails
        on new_activities.person_key = stored_tails.person_key
    where new_activities.person_key not in (select person_key from persons_to_rebuild)

),

{% endif %}
{% if scoped %}
-- A person is rebuilt from the activities of all its identifiers: picking those before the
-- join scans the activities once, where a filter on the joined person key joined them all.
identities_to_rebuild as (

    select * from identities
    where person_key in (select person_key from persons_to_rebuild)

),

{% endif %}
-- Every identifier of an activity is in int_identities_stitched (collected from the
-- activities), so each activity finds its person.
activities_with_persons as (

    select
        activities.*,
        identities.person_key

    from activities
    {% if scoped -%}
    inner join identities_to_rebuild as identities
    {%- else -%}
    left join identities
    {%- endif %}
        on {{ activity_identity_matches('activities', 'identities') }}

),

-- n_stored: the activities a person keeps stored, which its sequence continues (0 when the
-- person is built whole); a person is either rebuilt or appended to, never both
sequenced_activities as (

    select
        activities_with_persons.*,
        0 as n_stored

    from activities_with_persons
    {% if scoped and not windowed %}

    union all

    select * from appended_activities
    {% endif %}

),

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
        cast(n_stored + row_number() over (
            partition by person_key
            order by ts, activity_source, source_file, source_line, event_id
        ) as {{ dbt.type_bigint() }}) as activity_seq,

        -- timestamps
        ts,
        -- when a build last wrote the row: models downstream take the rows written since
        -- their own last build
        {{ build_started_at() }} as built_at

    from sequenced_activities

)

select * from final
