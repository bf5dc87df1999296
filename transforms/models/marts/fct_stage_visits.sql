-- One row per visit to a stage (consecutive activities in the same stage collapse to one
-- visit), in order within each person's journey attempt: the stage-level event log that
-- variants, the directly-follows graph, loops and conformance are mined from. Each visit
-- carries its attempt's span (entry to the window's close or the as-of time), so the mining
-- layer places visits and activities in attempts without joining fct_journeys again; rows
-- are stored in visit order per attempt, which keeps the per-person joins local.

with

visits as (

    select * from {{ ref('int_stage_visits_collapsed') }}

),

attempts as (

    select * from {{ ref('int_journey_attempts_opened') }}

),

personas as (

    select * from {{ ref('int_persons_assigned_to_personas') }}

),

final as (

    select
        -- ids
        visits.person_key,
        visits.journey_id,
        visits.attempt_number,
        cast(visits.visit_number as {{ dbt.type_int() }}) as visit_number,
        visits.stage_id,
        coalesce(personas.persona_id, 'unassigned') as persona_id,

        -- dimensions
        visits.stage_order,

        -- measures
        visits.n_activities,

        -- timestamps
        visits.visited_at,
        visits.last_activity_at,
        lead(visits.visited_at) over (
            partition by visits.attempt_key
            order by visits.visit_number
        ) as next_visit_at,
        visits.attempt_key,
        attempts.entered_at as attempt_entered_at,
        least(attempts.window_closes_at, attempts.as_of_at) as attempt_closes_at

    from visits
    inner join attempts
        on visits.attempt_key = attempts.attempt_key
    left join personas
        on visits.person_key = personas.person_key
        and visits.journey_id = personas.journey_id

)

select * from final
-- attempt_key numbers the attempts in (person_key, journey_id, attempt_number) order
order by attempt_key, visit_number
