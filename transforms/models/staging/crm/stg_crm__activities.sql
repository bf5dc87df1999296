with

source as {{ not_materialized() }} (

    select * from {{ source('crm', 'crm_activities') }}

),

renamed as (

    select
        -- ids
        cast(activity_id as {{ dbt.type_string() }}) as activity_id,
        cast(contact_id as {{ dbt.type_string() }}) as contact_id,

        -- dimensions
        lower(activity_type) as activity_type,
        lower(channel) as channel,
        subject,
        source_file,
        cast(source_line as {{ dbt.type_bigint() }}) as source_line,

        -- timestamps
        cast(ts as {{ dbt.type_timestamp() }}) as ts,
        cast(event_date as date) as event_date,
        cast(loaded_at as {{ dbt.type_timestamp() }}) as loaded_at

    from source

),

first_copies as (

    {{ first_copies('renamed', 'activity_id', 'ts, source_file, source_line') }}

),

final as (

    select
        activity_id,
        contact_id,
        activity_type,
        channel,
        subject,
        source_file,
        source_line,
        ts,
        event_date,
        loaded_at

    from first_copies

)

select * from final
