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
        nullif(trim(cast(previous_id as {{ dbt.type_string() }})), '') as previous_id,

        -- dimensions
        lower(event_type) as event_type,
        cast(traits as {{ dbt.type_string() }}) as traits,
        lower(source) as source,
        source_file,
        cast(source_line as {{ dbt.type_bigint() }}) as source_line,

        -- timestamps
        cast(ts as {{ dbt.type_timestamp() }}) as ts,
        cast(loaded_at as {{ dbt.type_timestamp() }}) as loaded_at

    from source
    where lower(event_type) in ('identify', 'alias')

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
        previous_id,
        event_type,
        traits,
        nullif(lower(trim({{ json_extract_text('traits', "'email'") }})), '') as email_normalised,
        source,
        source_file,
        source_line,
        ts,
        loaded_at

    from first_copies

)

select * from final
