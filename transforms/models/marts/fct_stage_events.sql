with

visits as (

    select * from {{ ref('int_stage_visits_collapsed') }}

),

personas as (

    select * from {{ ref('int_persons_assigned_to_personas') }}

),

stage_entries as (

    select
        person_key,
        journey_id,
        attempt_number,
        stage_id,
        stage_order,
        count(*) as n_entries,
        cast(sum(n_activities) as {{ dbt.type_bigint() }}) as n_activities,
        min(visited_at) as first_reached_at,
        max(last_activity_at) as last_activity_at

    from visits
    group by 1, 2, 3, 4, 5

),

final as (

    select
        -- ids
        stage_entries.person_key,
        stage_entries.journey_id,
        stage_entries.attempt_number,
        stage_entries.stage_id,
        coalesce(personas.persona_id, 'unassigned') as persona_id,

        -- dimensions
        stage_entries.stage_order,

        -- measures
        stage_entries.n_entries,
        stage_entries.n_activities,

        -- timestamps
        stage_entries.first_reached_at,
        stage_entries.last_activity_at

    from stage_entries
    left join personas
        on stage_entries.person_key = personas.person_key
        and stage_entries.journey_id = personas.journey_id

)

select * from final
