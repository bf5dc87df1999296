-- One row per journey attempt: its stage visits in visit order, with its persona and status.
-- The attempt's stage_path (fct_journeys: stage ids joined by ' > ' in visit order; ids are
-- snake_case, so the separator never occurs inside one) is that list already built by dbt, so
-- no visit is read or sorted again here. The activities are the stage ids themselves, so
-- there are no names to look up.
activity_names as (
    select cast(null as varchar[]) as names
),

traces as (
    select
        -- ids
        journey_id,
        persona_id,
        person_key,
        attempt_number,
        -- dimensions
        string_split(stage_path, ' > ') as activities,
        status
    from marts.fct_journeys
)
