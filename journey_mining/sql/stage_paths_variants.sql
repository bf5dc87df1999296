-- One row per variant per breakdown (journey x persona, and every persona as $all_personas):
-- attempts, their share, rank, cumulative share and outcomes. The traces CTEs (a stage or an
-- event traces file) give `traces`, one row per attempt: journey_id, persona_id, activities,
-- status; and `activity_names`, one row. {names} reads a variant's activities as their names:
-- the event traces hold integer codes, which group and sort far faster than text, and only
-- the variants ranked below are decoded.
with {traces},

variants_by_persona as (
    select
        journey_id,
        persona_id,
        activities,
        count(*) as persons,
        count(*) filter (where status = 'converted') as converted,
        count(*) filter (where status = 'dropped') as dropped,
        count(*) filter (where status = 'in_progress') as in_progress
    from traces
    group by journey_id, persona_id, activities
),

variants_by_breakdown as (
    select * from variants_by_persona
    union all
    select
        journey_id,
        $all_personas as persona_id,
        activities,
        cast(sum(persons) as bigint) as persons,
        cast(sum(converted) as bigint) as converted,
        cast(sum(dropped) as bigint) as dropped,
        cast(sum(in_progress) as bigint) as in_progress
    from variants_by_persona
    group by journey_id, activities
),

breakdown_totals as (
    select
        journey_id,
        persona_id,
        cast(sum(persons) as bigint) as breakdown_persons,
        count(*) as distinct_variants
    from variants_by_breakdown
    group by journey_id, persona_id
),

cutoffs as (
    -- The persons of each breakdown's $top-th most common variant: every variant ranked $top
    -- or better has at least that many, so only those are ranked by their text (all when
    -- $top is null), and their cumulative sums stay exact.
    select journey_id, persona_id, min(persons) as cutoff
    from (
        select
            journey_id,
            persona_id,
            persons,
            row_number() over (
                partition by journey_id, persona_id order by persons desc
            ) as count_rank
        from variants_by_breakdown
    ) as counted
    where $top is null or count_rank <= $top
    group by journey_id, persona_id
),

candidates as (
    select
        variants.*,
        {names} as names,
        totals.breakdown_persons,
        totals.distinct_variants
    from variants_by_breakdown as variants
    inner join cutoffs
        on variants.journey_id = cutoffs.journey_id
        and variants.persona_id = cutoffs.persona_id
        and variants.persons >= cutoffs.cutoff
    inner join breakdown_totals as totals
        on variants.journey_id = totals.journey_id
        and variants.persona_id = totals.persona_id
    cross join activity_names
),

ranked as (
    select
        *,
        array_to_string(names, ' > ') as variant,
        row_number() over by_rank as rank,
        cast(sum(persons) over by_rank as bigint) as cumulative_persons
    from candidates
    window by_rank as (
        partition by journey_id, persona_id
        order by persons desc, array_to_string(names, ' > '), names
        rows between unbounded preceding and current row
    )
)

select
    -- ids
    journey_id,
    persona_id,
    rank,
    -- dimensions
    variant,
    names as activities,
    array_length(names) as length,
    -- measures
    persons,
    persons / breakdown_persons as share,
    cumulative_persons / breakdown_persons as cumulative_share,
    5 * (cumulative_persons - persons) < 4 * breakdown_persons as in_top_80,
    converted,
    dropped,
    in_progress,
    distinct_variants
from ranked
where $top is null or rank <= $top
order by journey_id, persona_id, rank
