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
        ts as observed_at,
        row_number() over (
            partition by person_key, attribute
            order by ts desc, event_id desc
        ) as trait_rank

    from trait_values
    where value_text is not null

),

latest_trait_values as (

    select
        person_key,
        attribute,
        value_text,
        attribute_source,
        observed_at

    from latest_traits
    where trait_rank = 1

),

-- CRM wins: a person has at most one CRM value and one latest trait per attribute, so the
-- traits that count are those of attributes without a CRM value (an anti-join, instead of
-- ranking all 4M candidates per person and attribute)
candidates as (

    select
        person_key,
        attribute,
        value_text,
        attribute_source,
        observed_at

    from crm_attributes

    union all

    select
        latest_trait_values.person_key,
        latest_trait_values.attribute,
        latest_trait_values.value_text,
        latest_trait_values.attribute_source,
        latest_trait_values.observed_at

    from latest_trait_values
    left join crm_attributes
        on latest_trait_values.person_key = crm_attributes.person_key
        and latest_trait_values.attribute = crm_attributes.attribute
    where crm_attributes.person_key is null

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

    from candidates

)

select * from final
