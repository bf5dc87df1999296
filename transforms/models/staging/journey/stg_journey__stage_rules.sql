with

source as (

    select * from {{ source('journey', 'journey_stage_rules') }}

),

final as (

    select
        -- ids
        cast(journey_id as {{ dbt.type_string() }}) as journey_id,
        cast(stage_id as {{ dbt.type_string() }}) as stage_id,
        cast(clause_id as {{ dbt.type_string() }}) as clause_id,

        -- dimensions
        lower(activity_source) as activity_source,
        event_pattern,
        event_like,
        cast(is_glob as boolean) as is_glob,

        -- measures
        cast(n_conditions as integer) as n_conditions

    from source

)

select * from final
