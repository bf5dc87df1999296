-- One row per event of the funnel input: the steps and exclusions it matches (bit masks), its
-- breakdown value, and its position in the person's order (timestamp, then events matching no
-- step, then step order at one instant, then file order). Only a strict funnel needs the events
-- that match nothing ({keep} drops them otherwise: positions stay in the same order), and
-- then only events with a step's or an exclusion's name are read ({named}). Each event's JSON
-- properties are parsed once, into `props`: the values of every property the conditions and
-- the breakdown name ({props}). Positions count within the person, or within the person and
-- group when the funnel runs per breakdown value ({partition}).
create or replace temp table _jm_funnel_events as
with source as (
    select
        -- ids
        cast({person} as varchar) as person_key,
        {order} as seq,
        -- dimensions
        cast({event} as varchar) as event,
        {props} as props,
        -- timestamps
        epoch_us({timestamp}) as ts_us
    from {relation}
    where {person} is not null and {timestamp} is not null and {named}
),

match_steps as (
    select
        person_key,
        seq,
        ts_us,
        {step_mask} as step_mask,
        {exclusion_mask} as exclusion_mask,
        {breakdown_value} as breakdown_value,
        {has_breakdown} as has_breakdown
    from source
),

final as (
    select
        -- ids
        person_key,
        {grp} as grp,
        -- measures
        step_mask,
        exclusion_mask,
        breakdown_value,
        has_breakdown,
        case
            when step_mask = 0 then 0 else cast(log2(step_mask & -step_mask) as integer) + 1
        end as step_rank,
        seq,
        -- timestamps
        ts_us
    from match_steps
    where {keep}
)

select
    person_key,
    grp,
    row_number() over (
        partition by {partition} order by ts_us, step_rank, seq
    ) as pos,
    step_mask,
    exclusion_mask,
    breakdown_value,
    has_breakdown,
    ts_us
from final
