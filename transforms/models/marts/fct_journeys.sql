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

-- One pass over the visits per attempt_key (an integer; grouping by the person key, journey
-- and attempt number and joining on them took half again as long at 50M events): the path,
-- its counts and the first visit of the journey's final stage, the conversion.
paths as (

    select
        visits.attempt_key,
        {{ string_agg_ordered('visits.stage_id', ' > ', 'visits.visit_number') }} as stage_path,
        count(*) as n_visits,
        count(distinct visits.stage_id) as n_stages_reached,
        max(visits.stage_order) as furthest_stage_order,
        min(
            case when visits.stage_id = journeys.final_stage_id then visits.visited_at end
        ) as converted_at

    from visits
    inner join journeys
        on visits.journey_id = journeys.journey_id
    group by 1

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
            when paths.converted_at is not null then 'converted'
            when attempts.window_closes_at > attempts.as_of_at then 'in_progress'
            else 'dropped'
        end as status,
        paths.converted_at is not null as is_converted,

        -- measures
        paths.n_stages_reached,
        paths.n_visits,
        attempts.window_seconds,

        -- timestamps
        attempts.entered_at,
        paths.converted_at,
        attempts.window_closes_at,
        attempts.as_of_at

    from attempts
    inner join paths
        on attempts.attempt_key = paths.attempt_key
    left join stages
        on attempts.journey_id = stages.journey_id
        and paths.furthest_stage_order = stages.stage_order
    left join personas
        on attempts.person_key = personas.person_key
        and attempts.journey_id = personas.journey_id

)

select * from final
