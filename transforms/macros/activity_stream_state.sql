{#
    What fct_activities was last built from: the identities it applied (identifier -> person
    key) and the newest load time of the activities it read. The next unwindowed incremental
    run rebuilds the persons of activities loaded since, and the persons whose identifiers now
    stitch elsewhere, found by comparing identities (millions of rows) instead of joining every
    current activity with every stored one (tens of millions each side).

    The newest load is read from the raw tables the activities come from: the same time as
    int_activities_unioned's (raw rows that are no activities, such as identify calls, were
    loaded by the same runs, and all of it is read in the build's transaction), without
    evaluating the union view and its de-duplication again (seconds at 50M events).

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
        select max(loaded_at) as loaded_at from (
            {%- for table in activity_source_tables() %}
            {% if not loop.first %}union all {% endif -%}
            select max(loaded_at) as loaded_at from {{ table }}
            {%- endfor %}
        ) as newest_loads
    {%- endif -%}
{%- endmacro %}



{#- The raw tables int_activities_unioned reads. -#}
{% macro activity_source_tables() -%}
    {{ return([
        source('product', 'product_events'),
        source('crm', 'crm_activities'),
        source('crm', 'crm_deal_stage_changes'),
        source('crm', 'crm_survey_responses'),
    ]) }}
{%- endmacro %}
