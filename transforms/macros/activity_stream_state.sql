{#
    What fct_activities was last built from: the identities it applied (identifier -> person
    key) and the newest load time of the activities it read. The next unwindowed incremental
    run rebuilds the persons of activities loaded since, and the persons whose identifiers now
    stitch elsewhere, found by comparing identities (millions of rows) instead of joining every
    current activity with every stored one (tens of millions each side).

    Saved after every full or unwindowed build, in the same transaction. A windowed run
    rebuilds only part of the stream, so it leaves the state as it was: the next unwindowed run
    then checks everything since the last one. DuckDB only: on Spark the stream is rebuilt whole.
#}
{% macro activity_stream_state(name) -%}
    {{ return(api.Relation.create(
        database=this.database,
        schema='incremental_state',
        identifier=this.identifier ~ '__' ~ name,
        type='table',
    )) }}
{%- endmacro %}


{% macro save_activity_stream_state() -%}
    {%- if target.type != 'spark' and not (var('min_date') or var('max_date')) -%}
    create schema if not exists {{ activity_stream_state('identities').without_identifier() }};
    create or replace table {{ activity_stream_state('identities') }} as
        select identifier_type, identifier, person_key from {{ ref('int_identities_stitched') }};
    create or replace table {{ activity_stream_state('loads') }} as
        select max(loaded_at) as loaded_at from {{ ref('int_activities_unioned') }}
    {%- endif -%}
{%- endmacro %}

