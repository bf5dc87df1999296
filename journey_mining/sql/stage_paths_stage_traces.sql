-- One row per journey attempt: its stage visits in visit order, with its persona and status.
with visit_sequences as (
    select
        person_key,
        journey_id,
        attempt_number,
        list(stage_id order by visit_number) as activities
    from marts.fct_stage_visits
    group by person_key, journey_id, attempt_number
)

select
    -- ids
    journeys.journey_id,
    journeys.persona_id,
    journeys.person_key,
    journeys.attempt_number,
    -- dimensions
    visit_sequences.activities,
    journeys.status
from marts.fct_journeys as journeys
inner join visit_sequences
    on journeys.person_key = visit_sequences.person_key
    and journeys.journey_id = visit_sequences.journey_id
    and journeys.attempt_number = visit_sequences.attempt_number
