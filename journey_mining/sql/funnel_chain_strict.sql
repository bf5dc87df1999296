-- One row per step filled by each strict attempt: step k+1 must be the person's very next event.
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
        following_event.pos,
        following_event.ts_us,
        chain.ts_us
    from chain
    inner join _jm_funnel_events as following_event
        on
            following_event.person_key = chain.person_key
            and following_event.grp = chain.grp
            and following_event.pos = chain.pos + 1
    where
        chain.step < $n_steps
        and (following_event.step_mask >> chain.step) & 1 = 1
        and following_event.ts_us - chain.start_ts <= $window_us
)

select * from chain
