-- A failing row is a person counted more than once: a person key with two rows in
-- dim_persons, or a person with two journeys of the same attempt. (An identifier whose
-- activities land under two person keys fails assert_activity_stream_matches_staging, which
-- holds every activity to the person its identifiers stitch to.)

-- Dagster shows it as a check on dim_persons.
{{ config(meta={'dagster': {'ref': {'name': 'dim_persons'}}}) }}

with

persons as (

    select * from {{ ref('dim_persons') }}

),

journeys as (

    select * from {{ ref('fct_journeys') }}

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

select * from duplicated_persons
union all
select * from duplicated_journeys
