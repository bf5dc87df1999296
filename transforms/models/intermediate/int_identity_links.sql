with

identifies as (

    select * from {{ ref('stg_product__identifies') }}

),

activity_identifiers as (

    select * from {{ ref('int_activity_identifiers') }}

),

contacts as (

    select * from {{ ref('stg_crm__contacts') }}

),

known_user_ids as (

    select user_id from activity_identifiers where user_id is not null
    union
    select user_id from identifies where user_id is not null
    union
    select external_id as user_id from contacts where external_id is not null

),

identify_links as (

    select
        'identify' as link_kind,
        'anonymous_id' as from_type,
        anonymous_id as from_id,
        user_id as to_user_id,
        event_id as evidence,
        ts as linked_at

    from identifies
    where event_type = 'identify'
        and anonymous_id is not null
        and user_id is not null

),

alias_links as (

    select
        'alias' as link_kind,
        case when known_user_ids.user_id is null then 'anonymous_id' else 'user_id' end as from_type,
        identifies.previous_id as from_id,
        identifies.user_id as to_user_id,
        identifies.event_id as evidence,
        identifies.ts as linked_at

    from identifies
    left join known_user_ids
        on identifies.previous_id = known_user_ids.user_id
    where identifies.event_type = 'alias'
        and identifies.previous_id is not null
        and identifies.user_id is not null
        and identifies.previous_id <> identifies.user_id

),

external_id_links as (

    select
        'external_id' as link_kind,
        'contact_id' as from_type,
        contact_id as from_id,
        external_id as to_user_id,
        'crm_contacts.external_id' as evidence,
        created_at as linked_at

    from contacts
    where external_id is not null

),

email_links as (

    select
        'email' as link_kind,
        'contact_id' as from_type,
        contacts.contact_id as from_id,
        identifies.user_id as to_user_id,
        identifies.event_id as evidence,
        identifies.ts as linked_at

    from contacts
    inner join identifies
        on contacts.email_normalised = identifies.email_normalised
    where contacts.external_id is null
        and identifies.event_type = 'identify'
        and identifies.user_id is not null

),

all_links as (

    select * from identify_links
    union all
    select * from alias_links
    union all
    select * from external_id_links
    union all
    select * from email_links

),

ranked_links as (

    select
        *,
        row_number() over (
            partition by from_type, from_id
            order by linked_at, evidence, to_user_id
        ) as link_rank

    from all_links

),

final as (

    select
        -- ids
        link_kind,
        from_type,
        from_id,
        to_user_id,
        evidence,

        -- dimensions
        link_rank,
        from_type = 'user_id' or link_rank = 1 as is_applied,

        -- timestamps
        linked_at

    from ranked_links

)

select * from final
