with

source as {{ not_materialized() }} (

    select * from {{ source('product', 'product_events') }}

),

renamed as (

    select
        -- ids
        cast(event_id as {{ dbt.type_string() }}) as event_id,
        nullif(trim(cast(user_id as {{ dbt.type_string() }})), '') as user_id,
        nullif(trim(cast(anonymous_id as {{ dbt.type_string() }})), '') as anonymous_id,

        -- dimensions
        lower(event_type) as event_type,
        event,
        lower(channel) as channel,
        cast(properties as {{ dbt.type_string() }}) as properties,
        lower(source) as source,
        source_file,
        cast(source_line as {{ dbt.type_bigint() }}) as source_line,

        -- timestamps
        cast(ts as {{ dbt.type_timestamp() }}) as ts,
        cast(event_date as date) as event_date,
        cast(loaded_at as {{ dbt.type_timestamp() }}) as loaded_at

    from source
    where lower(event_type) not in ('identify', 'alias')

),

first_copies as (

    {{ first_copies(
        'renamed',
        'event_id',
        'ts, source_file, source_line',
        copied_keys=ref('stg_product__copied_event_ids'),
    ) }}

),

final as (

    select
        event_id,
        user_id,
        anonymous_id,
        event_type,
        event,
        channel,
        properties,
        source,
        source_file,
        source_line,
        ts,
        event_date,
        loaded_at

    from first_copies

)

select * from final
