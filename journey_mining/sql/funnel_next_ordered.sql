-- For each step event and each later step k: the person's first event after it matching step k.
-- One window pass over the step events computes every k at once, with one minimum per step of
-- the event's position and time packed into one HUGEINT: the position in the high 64 bits (so
-- the smallest is the first event), the time shifted to unsigned in the low 64 bits.
create or replace temp table _jm_funnel_next as
with step_events as (
    select
        *,
        (cast(pos as hugeint) << 64) + cast(ts_us as hugeint) + 9223372036854775808 as packed_event
    from _jm_funnel_events
    where step_mask <> 0
),

first_following as (
    select
        person_key,
        grp,
        pos,
        step_mask,
        unnest(range(2, $n_steps + 1)) as step,
        unnest([{following}]) as next_event
    from step_events
    window following_events as (
        partition by {partition}
        order by pos
        rows between 1 following and unbounded following
    )
)

select
    person_key,
    grp,
    pos,
    step,
    cast(next_event >> 64 as bigint) as next_pos,
    cast((next_event & 18446744073709551615) - 9223372036854775808 as bigint) as next_ts
from first_following
where next_event is not null and (step_mask >> (step - 2)) & 1 = 1
