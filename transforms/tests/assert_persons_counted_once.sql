-- A failing row is a person counted more than once: an identifier (user id, anonymous id or
-- contact) whose activities land under two person keys, a person key with two rows in
-- dim_persons, or a person with two journeys of the same attempt.

-- Dagster shows it as a check on dim_persons.
{{ config(meta={'dagster': {'ref': {'name': 'dim_persons'}}}) }}

with

activities as (

    select * from {{ ref('int_activities_unioned') }}

),

stream as (

    select * from {{ ref('fct_activities') }}

),

persons as (

    select * from {{ ref('dim_persons') }}

),

journeys as (

    select * from {{ ref('fct_journeys') }}

),

activity_identifiers as (

    select
        coalesce(activities.user_id, activities.anonymous_id, activities.contact_id) as identifier,
        stream.person_key

    from activities
    inner join stream
        on activities.event_id = stream.event_id

),

identifiers_split_across_persons as (

    select
        identifier as offender,
        'identifier under several person keys' as problem

    from activity_identifiers
    group by identifier
    having count(distinct person_key) > 1

),

duplicated_persons as (

    select
        person_key as offender,
        'person twice in dim_persons' as problem

    from persons
    group by person_key
    having count(*) > 1

),

duplicated_journeys as (

    select
        {{ dbt.concat(['person_key', "' / '", 'journey_id']) }} as offender,
        'person twice in one journey attempt' as problem

    from journeys
    group by person_key, journey_id, attempt_number
    having count(*) > 1

)

select * from identifiers_split_across_persons
union all
select * from duplicated_persons
union all
select * from duplicated_journeys
