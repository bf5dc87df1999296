with

source as (

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

ranked_copies as (

    select
        *,
        row_number() over (
            partition by activity_id
            order by ts, source_file, source_line
        ) as copy_rank

    from renamed

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

    from ranked_copies
    where copy_rank = 1

)

select * from final
