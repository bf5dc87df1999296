with

source as (

    select * from {{ source('journey', 'journey_rule_conditions') }}

),

final as (

    select
        -- ids
        cast(journey_id as {{ dbt.type_string() }}) as journey_id,
        lower(rule_kind) as rule_kind,
        cast(owner_id as {{ dbt.type_string() }}) as owner_id,
        cast(clause_id as {{ dbt.type_string() }}) as clause_id,
        cast(condition_id as {{ dbt.type_string() }}) as condition_id,

        -- dimensions
        property,
        lower(op) as op,
        cast(value_text as {{ dbt.type_string() }}) as value_text,
        cast(value_number as {{ type_double() }}) as value_number,
        cast(is_list as boolean) as is_list

    from source

)

select * from final
