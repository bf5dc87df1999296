with

source as {{ not_materialized() }} (

    select * from {{ source('crm', 'crm_survey_responses') }}

),

renamed as (

    select
        -- ids
        cast(response_id as {{ dbt.type_string() }}) as response_id,
        cast(contact_id as {{ dbt.type_string() }}) as contact_id,

        -- dimensions
        lower(survey_type) as survey_type,
        comment,
        coalesce(lower(channel), 'survey') as channel,
        source_file,
        cast(source_line as {{ dbt.type_bigint() }}) as source_line,

        -- measures
        cast(score as integer) as score,

        -- timestamps
        cast(ts as {{ dbt.type_timestamp() }}) as ts,
        cast(event_date as date) as event_date,
        cast(loaded_at as {{ dbt.type_timestamp() }}) as loaded_at

    from source

),

first_copies as (

    {{ first_copies('renamed', 'response_id', 'ts, source_file, source_line') }}

),

final as (

    select
        response_id,
        contact_id,
        survey_type,
        comment,
        channel,
        source_file,
        source_line,
        score,
        ts,
        event_date,
        loaded_at

    from first_copies

)

select * from final
