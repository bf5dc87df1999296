-- One row per directly-follows edge per breakdown (journey x persona, and every persona as
-- $all_personas): how often it occurs and the median seconds between the two visits.
-- '__start__' and '__end__' edges count the attempts a stage opens or closes. (The attempts
-- with each edge are counted from the distinct stage paths: stage_paths.stage_dfg.)
with ordered_visits as (
    select
        journey_id,
        persona_id,
        stage_id,
        row_number() over by_attempt = 1 as is_first,
        lead(stage_id) over by_attempt as next_stage_id,
        epoch_us(lead(visited_at) over by_attempt) - epoch_us(visited_at) as gap_us
    from marts.fct_stage_visits
    window by_attempt as (
        partition by attempt_key
        order by visit_number
    )
),

edges as (
    select
        journey_id, persona_id,
        stage_id as source,
        coalesce(next_stage_id, $end_node) as target,
        gap_us
    from ordered_visits
    union all
    select
        journey_id, persona_id,
        $start_node as source,
        stage_id as target,
        null as gap_us
    from ordered_visits
    where is_first
)

select
    -- ids
    journey_id,
    if(grouping(persona_id) = 1, $all_personas, persona_id) as persona_id,
    source,
    target,
    -- measures
    count(*) as transitions,
    quantile_cont(gap_us, 0.5) / 1e6 as median_seconds
from edges
group by grouping sets ((journey_id, persona_id, source, target), (journey_id, source, target))
