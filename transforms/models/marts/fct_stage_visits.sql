-- One row per visit to a stage (consecutive activities in the same stage collapse to one
-- visit), in order within each person's journey attempt: the stage-level event log that
-- variants, the directly-follows graph, loops and conformance are mined from.

with

visits as (

    select * from {{ ref('int_stage_visits_collapsed') }}

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
            partition by visits.person_key, visits.journey_id, visits.attempt_number
            order by visits.visit_number
        ) as next_visit_at

    from visits
    left join personas
        on visits.person_key = personas.person_key
        and visits.journey_id = personas.journey_id

)

select * from final
