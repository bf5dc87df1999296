-- One row per breakdown (journey x persona, and every persona as $all_personas), deviation
-- type and designed stage that at least one attempt shows: the attempts exposed to it, those
-- affected, and the outcomes of both. Only stages of the designed path are judged. Exposed:
-- for a skip, the attempts that reached a later designed stage; for a repeat or disorder,
-- the attempts that visited the stage.
with designed_stages as (
{designed_stages}
),

attempt_stages as (
    select
        visits.journey_id,
        visits.person_key,
        visits.attempt_number,
        designed_stages.stage_id,
        designed_stages.designed_position,
        count(*) as n_visits,
        min(visits.visit_number) as first_visit
    from marts.fct_stage_visits as visits
    inner join designed_stages
        on visits.journey_id = designed_stages.journey_id
        and visits.stage_id = designed_stages.stage_id
    group by all
),

ordered_stages as (
    select
        *,
        max(first_visit) over (
            partition by person_key, journey_id, attempt_number
            order by designed_position
            rows between unbounded preceding and 1 preceding
        ) as last_first_visit_of_earlier_stages,
        max(designed_position) over (
            partition by person_key, journey_id, attempt_number
        ) as furthest_position
    from attempt_stages
),

attempt_reach as (
    select distinct journey_id, person_key, attempt_number, furthest_position
    from ordered_stages
),

reached_later as (
    select
        attempt_reach.journey_id,
        attempt_reach.person_key,
        attempt_reach.attempt_number,
        'skipped_stage' as deviation,
        designed_stages.stage_id,
        designed_stages.designed_position,
        attempt_stages.stage_id is null as is_affected
    from attempt_reach
    inner join designed_stages
        on attempt_reach.journey_id = designed_stages.journey_id
        and designed_stages.designed_position < attempt_reach.furthest_position
    left join attempt_stages
        on attempt_reach.person_key = attempt_stages.person_key
        and attempt_reach.journey_id = attempt_stages.journey_id
        and attempt_reach.attempt_number = attempt_stages.attempt_number
        and designed_stages.stage_id = attempt_stages.stage_id
),

exposures as (
    select * from reached_later
    union all
    select
        journey_id, person_key, attempt_number,
        'repeated_stage' as deviation,
        stage_id,
        designed_position,
        n_visits > 1 as is_affected
    from ordered_stages
    union all
    select
        journey_id, person_key, attempt_number,
        'out_of_order' as deviation,
        stage_id,
        designed_position,
        coalesce(last_first_visit_of_earlier_stages > first_visit, false) as is_affected
    from ordered_stages
),

counted as (
    select
        exposures.journey_id,
        if(grouping(journeys.persona_id) = 1, $all_personas, journeys.persona_id) as persona_id,
        exposures.deviation,
        exposures.stage_id,
        exposures.designed_position,
        count(*) as persons_exposed,
        count(*) filter (where is_affected) as persons_affected,
        count(*) filter (where is_affected and journeys.status = 'converted') as converted,
        count(*) filter (where is_affected and journeys.status = 'in_progress') as in_progress,
        count(*) filter (where is_affected and journeys.status = 'dropped') as lost_after,
        count(*) filter (where not is_affected and journeys.status = 'in_progress')
            as unaffected_in_progress,
        count(*) filter (where not is_affected and journeys.status = 'dropped')
            as unaffected_lost_after
    from exposures
    inner join marts.fct_journeys as journeys
        on exposures.person_key = journeys.person_key
        and exposures.journey_id = journeys.journey_id
        and exposures.attempt_number = journeys.attempt_number
    group by grouping sets (
        (
            exposures.journey_id, journeys.persona_id, exposures.deviation,
            exposures.stage_id, exposures.designed_position
        ),
        (exposures.journey_id, exposures.deviation, exposures.stage_id, exposures.designed_position)
    )
)

select
    journey_id,
    persona_id,
    deviation,
    stage_id,
    designed_position,
    persons_exposed,
    persons_affected,
    converted,
    in_progress,
    lost_after,
    lost_after / nullif(persons_affected - in_progress, 0) as lost_share,
    unaffected_lost_after / nullif(
        persons_exposed - persons_affected - unaffected_in_progress, 0
    ) as unaffected_lost_share
from counted
where persons_affected > 0
order by journey_id, persona_id, persons_affected desc, deviation, designed_position
