with

source as {{ not_materialized() }} (

    select * from {{ source('crm', 'crm_deal_stage_changes') }}

),

renamed as (

    select
        -- ids
        cast(deal_id as {{ dbt.type_string() }}) as deal_id,
        cast(contact_id as {{ dbt.type_string() }}) as contact_id,

        -- dimensions
        lower(deal_stage) as deal_stage,
        source_file,
        cast(source_line as {{ dbt.type_bigint() }}) as source_line,

        -- measures
        cast(amount as {{ type_double() }}) as amount,

        -- timestamps
        cast(ts as {{ dbt.type_timestamp() }}) as ts,
        cast(event_date as date) as event_date,
        cast(loaded_at as {{ dbt.type_timestamp() }}) as loaded_at

    from source

),

keyed as (

    select
        *,
        {{ dbt.concat([
            'deal_id', "':'", 'deal_stage', "':'", 'cast(ts as ' ~ dbt.type_string() ~ ')'
        ]) }} as deal_stage_change_id

    from renamed

),

first_copies as (

    {{ first_copies('keyed', 'deal_stage_change_id', 'source_file, source_line') }}

),

final as (

    select
        deal_stage_change_id,
        deal_id,
        contact_id,
        deal_stage,
        source_file,
        source_line,
        amount,
        ts,
        event_date,
        loaded_at

    from first_copies

)

select * from final
