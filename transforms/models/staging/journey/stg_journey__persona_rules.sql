with

source as (

    select * from {{ source('journey', 'journey_persona_rules') }}

),

final as (

    select
        -- ids
        cast(journey_id as {{ dbt.type_string() }}) as journey_id,
        cast(persona_id as {{ dbt.type_string() }}) as persona_id,
        cast(clause_id as {{ dbt.type_string() }}) as clause_id,

        -- dimensions
        cast(persona_order as integer) as persona_order,

        -- measures
        cast(n_conditions as integer) as n_conditions

    from source

)

select * from final
