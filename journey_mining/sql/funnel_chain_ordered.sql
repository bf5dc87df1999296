-- One row per step filled by each attempt (an attempt starts at every step-1 event), greedily
-- taking the earliest later event of each next step within the window from the attempt start.
-- Each step keeps the time of the step before it (previous_ts), for the step times.
create or replace temp table _jm_funnel_chain as
with recursive chain (person_key, grp, start_pos, start_ts, step, pos, ts_us, previous_ts) as (
    select person_key, grp, pos, ts_us, 1, pos, ts_us, cast(null as bigint)
    from _jm_funnel_events
    where step_mask & 1 = 1
    union all
    select
        chain.person_key,
        chain.grp,
        chain.start_pos,
        chain.start_ts,
        chain.step + 1,
        following_step.next_pos,
        following_step.next_ts,
        chain.ts_us
    from chain
    inner join _jm_funnel_next as following_step
        on
            following_step.person_key = chain.person_key
            and following_step.grp = chain.grp
            and following_step.pos = chain.pos
            and following_step.step = chain.step + 1
    where following_step.next_ts - chain.start_ts <= $window_us
)

select * from chain
