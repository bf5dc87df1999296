with recursive

links as (

    select * from {{ ref('int_identity_links') }}

),

activity_identifiers as (

    select * from {{ ref('int_activity_identifiers') }}

),

identifies as (

    select * from {{ ref('stg_product__identifies') }}

),

contacts as (

    select * from {{ ref('stg_crm__contacts') }}

),

applied_links as (

    select * from links
    where is_applied

),

user_ids as (

    select user_id from activity_identifiers where user_id is not null
    union
    select user_id from identifies where user_id is not null
    union
    select to_user_id as user_id from applied_links
    union
    select from_id as user_id from applied_links where from_type = 'user_id'

),

user_edges as (

    select from_id as user_id, to_user_id as linked_user_id
    from applied_links
    where from_type = 'user_id'
    union
    select to_user_id as user_id, from_id as linked_user_id
    from applied_links
    where from_type = 'user_id'

),

{{ reachable_users('user_ids', 'user_edges') }},

canonical_users as (

    select
        user_id,
        min(reachable_user_id) as canonical_user_id

    from reachable_users
    group by user_id

),

user_merges as (

    select
        user_id,
        min(linked_at) as linked_at

    from (
        select from_id as user_id, linked_at from applied_links where from_type = 'user_id'
        union all
        select to_user_id as user_id, linked_at from applied_links where from_type = 'user_id'
    ) as user_alias_ends
    group by user_id

),

stitched_users as (

    select
        'user_id' as identifier_type,
        canonical_users.user_id as identifier,
        canonical_users.canonical_user_id,
        case when user_merges.user_id is not null then 'alias' end as linked_by,
        user_merges.linked_at

    from canonical_users
    left join user_merges
        on canonical_users.user_id = user_merges.user_id

),

anonymous_ids as (

    select anonymous_id from activity_identifiers where anonymous_id is not null
    union
    select anonymous_id from identifies where anonymous_id is not null
    union
    select from_id as anonymous_id from links where from_type = 'anonymous_id'

),

stitched_anonymous_ids as (

    select
        'anonymous_id' as identifier_type,
        anonymous_ids.anonymous_id as identifier,
        canonical_users.canonical_user_id,
        applied_links.link_kind as linked_by,
        applied_links.linked_at

    from anonymous_ids
    left join applied_links
        on applied_links.from_type = 'anonymous_id'
        and anonymous_ids.anonymous_id = applied_links.from_id
    left join canonical_users
        on applied_links.to_user_id = canonical_users.user_id

),

contact_ids as (

    select contact_id from contacts
    union
    select contact_id from activity_identifiers where contact_id is not null

),

stitched_contacts as (

    select
        'contact_id' as identifier_type,
        contact_ids.contact_id as identifier,
        canonical_users.canonical_user_id,
        applied_links.link_kind as linked_by,
        applied_links.linked_at

    from contact_ids
    left join applied_links
        on applied_links.from_type = 'contact_id'
        and contact_ids.contact_id = applied_links.from_id
    left join canonical_users
        on applied_links.to_user_id = canonical_users.user_id

),

stitched as (

    select * from stitched_users
    union all
    select * from stitched_anonymous_ids
    union all
    select * from stitched_contacts

),

final as (

    select
        -- ids
        identifier_type,
        identifier,
        case
            when canonical_user_id is not null then {{ dbt.concat(["'u:'", 'canonical_user_id']) }}
            when identifier_type = 'contact_id' then {{ dbt.concat(["'c:'", 'identifier']) }}
            else {{ dbt.concat(["'a:'", 'identifier']) }}
        end as person_key,
        canonical_user_id,

        -- dimensions
        linked_by,

        -- timestamps
        linked_at

    from stitched

)

select * from final
