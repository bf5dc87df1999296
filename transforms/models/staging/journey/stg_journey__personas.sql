with

source as (

    select * from {{ source('journey', 'journey_personas') }}

),

final as (

    select
        -- ids
        cast(journey_id as {{ dbt.type_string() }}) as journey_id,
        cast(persona_id as {{ dbt.type_string() }}) as persona_id,

        -- dimensions
        cast(persona_order as integer) as persona_order,
        name as persona_name,
        description

    from source

)

select * from final
