with

source as {{ not_materialized() }} (

    select * from {{ source('crm', 'crm_contacts') }}

),

renamed as (

    select
        -- ids
        cast(contact_id as {{ dbt.type_string() }}) as contact_id,
        nullif(trim(cast(external_id as {{ dbt.type_string() }})), '') as external_id,

        -- dimensions
        email,
        nullif(lower(trim(email)), '') as email_normalised,
        first_name,
        last_name,
        company,
        role,
        cast(company_size as integer) as company_size,
        segment,
        lifecycle_stage,
        source_file,
        cast(source_line as {{ dbt.type_bigint() }}) as source_line,

        -- timestamps
        cast(created_at as {{ dbt.type_timestamp() }}) as created_at,
        cast(loaded_at as {{ dbt.type_timestamp() }}) as loaded_at

    from source

),

first_copies as (

    {{ first_copies('renamed', 'contact_id', 'loaded_at desc, source_file, source_line') }}

),

final as (

    select
        contact_id,
        external_id,
        email,
        email_normalised,
        first_name,
        last_name,
        company,
        role,
        company_size,
        segment,
        lifecycle_stage,
        source_file,
        source_line,
        created_at,
        loaded_at

    from first_copies

)

select * from final
