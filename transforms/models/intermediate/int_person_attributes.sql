with

identities as (

    select * from {{ ref('int_identities_stitched') }}

),

contacts as (

    select * from {{ ref('stg_crm__contacts') }}

),

identifies as (

    select * from {{ ref('stg_product__identifies') }}

),

conditions as (

    select * from {{ ref('stg_journey__rule_conditions') }}

),

contacts_with_persons as (

    select
        identities.person_key,
        contacts.*,
        row_number() over (
            partition by identities.person_key
            order by contacts.created_at desc, contacts.contact_id desc
        ) as contact_rank

    from contacts
    inner join identities
        on identities.identifier_type = 'contact_id'
        and contacts.contact_id = identities.identifier

),

latest_contacts as (

    select * from contacts_with_persons
    where contact_rank = 1

),

crm_attributes as (

    {% set crm_fields = ['role', 'company_size', 'segment', 'lifecycle_stage', 'company'] %}
    {% for field in crm_fields %}
    select
        person_key,
        '{{ field }}' as attribute,
        cast({{ field }} as {{ dbt.type_string() }}) as value_text,
        'crm' as attribute_source,
        1 as source_priority,
        created_at as observed_at

    from latest_contacts
    where {{ field }} is not null
    {% if not loop.last %}union all{% endif %}
    {% endfor %}

),

trait_names as (

    select distinct property as attribute
    from conditions
    where rule_kind = 'persona'

),

identifies_with_persons as (

    select
        coalesce(users.person_key, anonymous_ids.person_key) as person_key,
        identifies.event_id,
        identifies.traits,
        identifies.ts

    from identifies
    left join identities as users
        on users.identifier_type = 'user_id'
        and identifies.user_id = users.identifier
    left join identities as anonymous_ids
        on anonymous_ids.identifier_type = 'anonymous_id'
        and identifies.anonymous_id = anonymous_ids.identifier
    where identifies.event_type = 'identify'
        and identifies.traits is not null

),

trait_values as (

    select
        identifies_with_persons.person_key,
        trait_names.attribute,
        {{ json_extract_text('identifies_with_persons.traits', 'trait_names.attribute') }} as value_text,
        identifies_with_persons.event_id,
        identifies_with_persons.ts

    from identifies_with_persons
    cross join trait_names

),

latest_traits as (

    select
        person_key,
        attribute,
        value_text,
        'identify' as attribute_source,
        2 as source_priority,
        ts as observed_at,
        row_number() over (
            partition by person_key, attribute
            order by ts desc, event_id desc
        ) as trait_rank

    from trait_values
    where value_text is not null

),

candidates as (

    select * from crm_attributes
    union all
    select
        person_key,
        attribute,
        value_text,
        attribute_source,
        source_priority,
        observed_at

    from latest_traits
    where trait_rank = 1

),

ranked_candidates as (

    select
        *,
        row_number() over (
            partition by person_key, attribute
            order by source_priority
        ) as candidate_rank

    from candidates

),

final as (

    select
        -- ids
        person_key,

        -- dimensions
        attribute,
        value_text,
        attribute_source,

        -- timestamps
        observed_at

    from ranked_candidates
    where candidate_rank = 1

)

select * from final
