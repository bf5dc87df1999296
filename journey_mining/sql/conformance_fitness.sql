-- One row per breakdown (journey x persona, and every persona as $all_personas): attempts,
-- their alignment fitness against the designed path, and how many follow it. The designed
-- path is a strict sequence of distinct stages, so an optimal alignment of a trace syncs on
-- a longest common subsequence (LCS) of the two; its cost is the moves left over,
-- trace_length + path_length - 2 * LCS, and the fitness is 1 - cost / (trace_length +
-- path_length), as pm4py computes it. The LCS is the longest increasing run of the trace's
-- designed positions, found by one pass over the trace: best[k + 1] is the longest one
-- ending at a position <= k.
with traces as (
{traces}
),

designed_paths as (
    select distinct
        journey_id,
        json_transform(designed_path, '["VARCHAR"]') as designed_path
    from marts.dim_journey_stages
),

variants_by_persona as (
    select journey_id, persona_id, activities, count(*) as persons
    from traces
    group by journey_id, persona_id, activities
),

distinct_variants as (
    select distinct
        variants_by_persona.journey_id,
        variants_by_persona.activities,
        designed_paths.designed_path
    from variants_by_persona
    inner join designed_paths
        on variants_by_persona.journey_id = designed_paths.journey_id
),

aligned_variants as (
    select
        journey_id,
        activities,
        len(activities) + len(designed_path) as moves,
        list_reduce(
            list_filter(
                list_transform(activities, lambda stage: list_position(designed_path, stage)),
                lambda position: position is not null
            ),
            lambda best, position: list_transform(
                range(0, len(designed_path) + 1),
                lambda k: if(k >= position, greatest(best[k + 1], best[position] + 1), best[k + 1])
            ),
            list_transform(range(0, len(designed_path) + 1), lambda k: 0)
        )[len(designed_path) + 1] as synchronous_moves,
        activities = designed_path as is_perfect_fit,
        activities = designed_path[1:len(activities)] as is_on_designed_path
    from distinct_variants
),

scored_variants as (
    select
        variants_by_persona.journey_id,
        variants_by_persona.persona_id,
        variants_by_persona.persons,
        aligned_variants.moves,
        aligned_variants.moves - 2 * aligned_variants.synchronous_moves as cost,
        aligned_variants.is_perfect_fit,
        aligned_variants.is_on_designed_path
    from variants_by_persona
    inner join aligned_variants
        on variants_by_persona.journey_id = aligned_variants.journey_id
        and variants_by_persona.activities = aligned_variants.activities
),

breakdowns as (
    select
        journey_id,
        if(grouping(persona_id) = 1, $all_personas, persona_id) as persona_id,
        cast(sum(persons) as bigint) as persons,
        sum(persons * (1 - cost / moves)) / sum(persons) as fitness,
        1 - sum(persons * cost) / sum(persons * moves) as log_fitness,
        cast(coalesce(sum(persons) filter (where is_perfect_fit), 0) as bigint)
            as perfectly_fitting,
        cast(coalesce(sum(persons) filter (where is_on_designed_path), 0) as bigint)
            as on_designed_path
    from scored_variants
    group by grouping sets ((journey_id, persona_id), (journey_id))
)

select
    journey_id,
    persona_id,
    persons,
    fitness,
    log_fitness,
    perfectly_fitting,
    perfectly_fitting / persons as perfectly_fitting_share,
    on_designed_path,
    on_designed_path / persons as on_designed_path_share
from breakdowns
order by journey_id, persona_id
