with

source as (

    select * from {{ source('journey', 'journey_stages') }}

),

final as (

    select
        -- ids
        cast(journey_id as {{ dbt.type_string() }}) as journey_id,
        cast(stage_id as {{ dbt.type_string() }}) as stage_id,

        -- dimensions
        cast(stage_order as integer) as stage_order,
        name as stage_name,
        owner,
        cast(layers as {{ dbt.type_string() }}) as layers,
        cast(kpis as {{ dbt.type_string() }}) as kpis

    from source

)

select * from final
