-- A failing row is a journey attempt whose stage_path is not its fct_stage_visits' stage ids
-- joined by ' > ' in visit order. The stage-level mining metrics (variants, conformance)
-- read an attempt's stage sequence from stage_path instead of regrouping the visits.

-- Dagster shows it as a check on fct_journeys.
{{ config(meta={'dagster': {'ref': {'name': 'fct_journeys'}}}) }}

with

journeys as (

    select * from {{ ref('fct_journeys') }}

),

visits as (

    select * from {{ ref('fct_stage_visits') }}

),

visit_paths as (

    select
        person_key,
        journey_id,
        attempt_number,
        {{ string_agg_ordered('stage_id', ' > ', 'visit_number') }} as stage_path

    from visits
    group by 1, 2, 3

),

final as (

    select
        coalesce(journeys.person_key, visit_paths.person_key) as person_key,
        coalesce(journeys.journey_id, visit_paths.journey_id) as journey_id,
        coalesce(journeys.attempt_number, visit_paths.attempt_number) as attempt_number,
        journeys.stage_path,
        visit_paths.stage_path as visit_stage_path

    from journeys
    full outer join visit_paths
        on journeys.person_key = visit_paths.person_key
        and journeys.journey_id = visit_paths.journey_id
        and journeys.attempt_number = visit_paths.attempt_number

)

select * from final
where stage_path is null
    or visit_stage_path is null
    or stage_path <> visit_stage_path
