with

attempts as (

    select * from {{ ref('int_journey_attempts_opened') }}

),

visits as (

    select * from {{ ref('int_stage_visits_collapsed') }}

),

personas as (

    select * from {{ ref('int_persons_assigned_to_personas') }}

),

journeys as (

    select * from {{ ref('stg_journey__models') }}

),

stages as (

    select * from {{ ref('stg_journey__stages') }}

),

paths as (

    select
        person_key,
        journey_id,
        attempt_number,
        {{ string_agg_ordered('stage_id', ' > ', 'visit_number') }} as stage_path,
        count(*) as n_visits,
        count(distinct stage_id) as n_stages_reached,
        max(stage_order) as furthest_stage_order

    from visits
    group by 1, 2, 3

),

conversions as (

    select
        visits.person_key,
        visits.journey_id,
        visits.attempt_number,
        min(visits.visited_at) as converted_at

    from visits
    inner join journeys
        on visits.journey_id = journeys.journey_id
        and visits.stage_id = journeys.final_stage_id
    group by 1, 2, 3

),

final as (

    select
        -- ids
        attempts.person_key,
        attempts.journey_id,
        attempts.attempt_number,
        attempts.attempt_key,
        coalesce(personas.persona_id, 'unassigned') as persona_id,

        -- dimensions
        paths.stage_path,
        stages.stage_id as furthest_stage_id,
        paths.furthest_stage_order,
        case
            when conversions.converted_at is not null then 'converted'
            when attempts.window_closes_at > attempts.as_of_at then 'in_progress'
            else 'dropped'
        end as status,
        conversions.converted_at is not null as is_converted,

        -- measures
        paths.n_stages_reached,
        paths.n_visits,
        attempts.window_seconds,

        -- timestamps
        attempts.entered_at,
        conversions.converted_at,
        attempts.window_closes_at,
        attempts.as_of_at

    from attempts
    inner join paths
        on attempts.person_key = paths.person_key
        and attempts.journey_id = paths.journey_id
        and attempts.attempt_number = paths.attempt_number
    left join stages
        on attempts.journey_id = stages.journey_id
        and paths.furthest_stage_order = stages.stage_order
    left join conversions
        on attempts.person_key = conversions.person_key
        and attempts.journey_id = conversions.journey_id
        and attempts.attempt_number = conversions.attempt_number
    left join personas
        on attempts.person_key = personas.person_key
        and attempts.journey_id = personas.journey_id

)

select * from final
