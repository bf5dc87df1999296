-- For each step event and each later step k: the person's first event after it matching step k.
create or replace temp table _jm_funnel_next as
with step_events as (
    select * from _jm_funnel_events where step_mask <> 0
),

first_following as (
    select
        step_events.person_key,
        step_events.grp,
        step_events.pos,
        step_events.step_mask,
        steps.step,
        min(
            case when (step_events.step_mask >> (steps.step - 1)) & 1 = 1 then step_events.pos end
        ) over following_events as next_pos,
        min(
            case when (step_events.step_mask >> (steps.step - 1)) & 1 = 1 then step_events.ts_us end
        ) over following_events as next_ts
    from step_events
    cross join range(2, $n_steps + 1) as steps (step)
    window following_events as (
        partition by step_events.person_key, step_events.grp, steps.step
        order by step_events.pos
        rows between 1 following and unbounded following
    )
)

select person_key, grp, pos, step, next_pos, next_ts
from first_following
where next_pos is not null and (step_mask >> (step - 2)) & 1 = 1
