{#
    What an incremental model was last built from, saved beside it so that its next run
    compares with that instead of re-reading everything it stores: a table
    incremental_state.<model>__<name> per kind of state. DuckDB only: on Spark these models
    are rebuilt whole.
#}
{% macro incremental_state(name) -%}
    {{ return(api.Relation.create(
        database=this.database,
        schema='incremental_state',
        identifier=this.identifier ~ '__' ~ name,
        type='table',
    )) }}
{%- endmacro %}


{#- When this dbt invocation started: the built_at of every row a model writes in it. -#}
{% macro build_started_at() -%}
    cast({{ dbt.string_literal(run_started_at.strftime('%Y-%m-%d %H:%M:%S.%f')) }} as {{ dbt.type_timestamp() }})
{%- endmacro %}


{#
    fct_activities' state: the identities it applied (identifier -> person key) and the
    newest load time of the activities it read. The next unwindowed incremental run rebuilds
    the persons of activities loaded since, and the persons whose identifiers now stitch
    elsewhere, found by comparing identities (millions of rows) instead of joining every
    current activity with every stored one (tens of millions each side).

    The newest load is read from the raw tables the activities come from: the same time as
    int_activities_unioned's, or later when a run loaded raw rows that are no activities (an
    identify call) after the last activity, which is as safe: all of it is read in the build's
    transaction. It saves evaluating the union view and its de-duplication again.

    Saved after every full or unwindowed build, in the same transaction. A windowed run
    rebuilds only part of the stream, so it leaves the state as it was: the next unwindowed run
    then checks everything since the last one.
#}
{% macro save_activity_stream_state() -%}
    {%- if target.type != 'spark' and not (var('min_date') or var('max_date')) -%}
    create schema if not exists {{ incremental_state('identities').without_identifier() }};
    create or replace table {{ incremental_state('identities') }} as
        select identifier_type, identifier, person_key from {{ ref('int_identities_stitched') }};
    {{ save_newest_load(activity_source_tables()) }}
    {%- endif -%}
{%- endmacro %}


{#- The newest loaded_at of some raw tables, as incremental_state('loads'): the next
    incremental run takes the rows loaded since. A post-hook of its own for a model over one
    raw table (stg_product__copied_event_ids). DuckDB only. -#}
{% macro save_newest_load(relations) -%}
    {%- if target.type != 'spark' -%}
    create schema if not exists {{ incremental_state('loads').without_identifier() }};
    create or replace table {{ incremental_state('loads') }} as
        select max(loaded_at) as loaded_at from (
            {%- for relation in relations %}
            {% if not loop.first %}union all {% endif -%}
            select max(loaded_at) as loaded_at from {{ relation }}
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


{#
    int_activities_matched_to_stages' state: the journey models (id and content hash) it
    matched with, and the newest built_at of fct_activities it read. Its next incremental run
    matches only the activities fct_activities wrote since, unless a journey model was added,
    removed or changed (or no state is saved), when it forgets every match and matches all.
#}
{% macro stage_matches_are_stale() -%}
    {%- if not execute -%}
        {{ return(false) }}
    {%- endif -%}
    {%- if load_relation(incremental_state('journey_models')) is none
        or load_relation(incremental_state('stream')) is none -%}
        {{ return(true) }}
    {%- endif -%}
    {%- set models = ref('stg_journey__models') -%}
    {%- set saved = incremental_state('journey_models') -%}
    {%- set differences = run_query(
        'select count(*) from ('
        ~ '(select journey_id, model_hash from ' ~ models
        ~ ' except select journey_id, model_hash from ' ~ saved ~ ')'
        ~ ' union all '
        ~ '(select journey_id, model_hash from ' ~ saved
        ~ ' except select journey_id, model_hash from ' ~ models ~ '))'
    ).columns[0].values()[0] -%}
    {{ return(differences > 0) }}
{%- endmacro %}


{#- Pre-hook: a rematch of every activity starts from an empty table, so that the matches of
    stages or journeys that are gone go too. -#}
{% macro forget_stale_stage_matches() -%}
    {%- if target.type != 'spark' and is_incremental() and stage_matches_are_stale() -%}
    delete from {{ this }}
    {%- endif -%}
{%- endmacro %}


{% macro save_stage_match_state() -%}
    {%- if target.type != 'spark' -%}
    create schema if not exists {{ incremental_state('stream').without_identifier() }};
    create or replace table {{ incremental_state('journey_models') }} as
        select journey_id, model_hash from {{ ref('stg_journey__models') }};
    create or replace table {{ incremental_state('stream') }} as
        select max(built_at) as built_at from {{ ref('fct_activities') }}
    {%- endif -%}
{%- endmacro %}
