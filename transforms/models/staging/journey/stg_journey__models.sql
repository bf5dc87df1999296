with

source as (

    select * from {{ source('journey', 'journey_models') }}

),

final as (

    select
        -- ids
        cast(journey_id as {{ dbt.type_string() }}) as journey_id,

        -- dimensions
        name as journey_name,
        actor,
        scenario,
        cast(designed_path as {{ dbt.type_string() }}) as designed_path,
        {{ json_array_last_text('designed_path') }} as final_stage_id,
        source_file,
        model_hash,

        -- measures
        cast(window_seconds as {{ dbt.type_bigint() }}) as window_seconds,

        -- timestamps
        cast(loaded_at as {{ dbt.type_timestamp() }}) as loaded_at

    from source

)

select * from final
