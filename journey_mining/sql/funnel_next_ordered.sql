-- For each step event and each later step k: the person's first event after it matching step k.
-- One window pass over the step events computes every k at once (one minimum per step).
create or replace temp table _jm_funnel_next as
with step_events as (
    select * from _jm_funnel_events where step_mask <> 0
),

first_following as (
    select
        person_key,
        grp,
        pos,
        step_mask,
        unnest(range(2, $n_steps + 1)) as step,
        unnest([{following_pos}]) as next_pos,
        unnest([{following_ts}]) as next_ts
    from step_events
    window following_events as (
        partition by person_key, grp
        order by pos
        rows between 1 following and unbounded following
    )
)

select person_key, grp, pos, step, next_pos, next_ts
from first_following
where next_pos is not null and (step_mask >> (step - 2)) & 1 = 1
