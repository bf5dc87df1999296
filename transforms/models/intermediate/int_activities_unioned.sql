{{ config(materialized=('table' if target.type == 'spark' else 'view')) }}

with

product_events as (

    select * from {{ ref('stg_product__events') }}

),

crm_activities as (

    select * from {{ ref('stg_crm__activities') }}

),

deal_stage_changes as (

    select * from {{ ref('stg_crm__deal_stage_changes') }}

),

survey_responses as (

    select * from {{ ref('stg_crm__survey_responses') }}

),

product_activities as (

    select
        -- ids
        event_id,
        user_id,
        anonymous_id,
        cast(null as {{ dbt.type_string() }}) as contact_id,

        -- dimensions
        event,
        channel,
        properties,
        source,
        'product' as activity_source,
        source_file,
        source_line,

        -- timestamps
        ts,
        loaded_at

    from product_events

),

touchpoints as (

    select
        -- ids
        {{ dbt.concat(["'crm_activity:'", 'activity_id']) }} as event_id,
        cast(null as {{ dbt.type_string() }}) as user_id,
        cast(null as {{ dbt.type_string() }}) as anonymous_id,
        contact_id,

        -- dimensions
        activity_type as event,
        channel,
        {{ json_object_text([('subject', 'subject')]) }} as properties,
        'hubspot' as source,
        'crm' as activity_source,
        source_file,
        source_line,

        -- timestamps
        ts,
        loaded_at

    from crm_activities

),

deal_touchpoints as (

    select
        -- ids
        {{ dbt.concat(["'crm_deal_stage_change:'", 'deal_stage_change_id']) }} as event_id,
        cast(null as {{ dbt.type_string() }}) as user_id,
        cast(null as {{ dbt.type_string() }}) as anonymous_id,
        contact_id,

        -- dimensions
        'deal_stage_changed' as event,
        'sales' as channel,
        {{ json_object_text([('deal_stage', 'deal_stage'), ('amount', 'amount')]) }} as properties,
        'hubspot' as source,
        'crm' as activity_source,
        source_file,
        source_line,

        -- timestamps
        ts,
        loaded_at

    from deal_stage_changes

),

survey_touchpoints as (

    select
        -- ids
        {{ dbt.concat(["'crm_survey_response:'", 'response_id']) }} as event_id,
        cast(null as {{ dbt.type_string() }}) as user_id,
        cast(null as {{ dbt.type_string() }}) as anonymous_id,
        contact_id,

        -- dimensions
        'survey_responded' as event,
        channel,
        {{ json_object_text([
            ('survey_type', 'survey_type'), ('score', 'score'), ('comment', 'comment')
        ]) }} as properties,
        'hubspot' as source,
        'crm' as activity_source,
        source_file,
        source_line,

        -- timestamps
        ts,
        loaded_at

    from survey_responses

),

final as (

    select * from product_activities
    union all
    select * from touchpoints
    union all
    select * from deal_touchpoints
    union all
    select * from survey_touchpoints

)

select * from final
