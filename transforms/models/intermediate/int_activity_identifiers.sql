-- Each distinct combination of identifiers the activities carry (a sixth as many rows as
-- activities at 50M events): the identity models read the known user, anonymous and contact
-- ids from here instead of each reading every activity through int_activities_unioned.

with

activities as (

    select * from {{ ref('int_activities_unioned') }}

),

final as (

    select distinct
        -- ids
        user_id,
        anonymous_id,
        contact_id

    from activities

)

select * from final
