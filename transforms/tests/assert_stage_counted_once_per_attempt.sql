-- A failing row is a person × journey × attempt × stage that fct_stage_events holds more than
-- once, or whose n_entries disagrees with the number of visits to that stage: a stage is
-- counted once per attempt however often it is re-entered.

-- Dagster shows it as a check on fct_stage_events.
{{ config(meta={'dagster': {'ref': {'name': 'fct_stage_events'}}}) }}

with

stage_events as (

    select * from {{ ref('fct_stage_events') }}

),

visits as (

    select * from {{ ref('int_stage_visits_collapsed') }}

),

visit_counts as (

    select
        person_key,
        journey_id,
        attempt_number,
        stage_id,
        count(*) as n_visits

    from visits
    group by 1, 2, 3, 4

),

stage_event_counts as (

    select
        person_key,
        journey_id,
        attempt_number,
        stage_id,
        count(*) as n_rows,
        max(n_entries) as n_entries

    from stage_events
    group by 1, 2, 3, 4

),

final as (

    select
        coalesce(stage_event_counts.person_key, visit_counts.person_key) as person_key,
        coalesce(stage_event_counts.journey_id, visit_counts.journey_id) as journey_id,
        coalesce(stage_event_counts.stage_id, visit_counts.stage_id) as stage_id,
        stage_event_counts.n_rows,
        stage_event_counts.n_entries,
        visit_counts.n_visits

    from stage_event_counts
    full outer join visit_counts
        on stage_event_counts.person_key = visit_counts.person_key
        and stage_event_counts.journey_id = visit_counts.journey_id
        and stage_event_counts.attempt_number = visit_counts.attempt_number
        and stage_event_counts.stage_id = visit_counts.stage_id

)

select * from final
where n_rows is null
    or n_visits is null
    or n_rows > 1
    or n_entries <> n_visits
