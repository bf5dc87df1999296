-- One row per distinct step of each person's chosen window, by first occurrence: its event and
-- the gap from the previous first occurrence.
create or replace temp table _jm_funnel_times as
with window_events as (
    select
        persons.person_key,
        persons.grp,
        persons.furthest,
        events.pos,
        events.ts_us,
        events.step_mask
    from _jm_funnel_persons as persons
    inner join _jm_funnel_events as events
        on
            events.person_key = persons.person_key
            and events.grp = persons.grp
            and events.ts_us between persons.start_ts and persons.end_ts
            and events.step_mask <> 0
),

first_by_step as (
    select
        window_events.person_key,
        window_events.grp,
        window_events.furthest,
        steps.step,
        min(window_events.pos) as pos,
        min(window_events.ts_us) as ts_us
    from window_events
    cross join range(1, $n_steps + 1) as steps (step)
    where (window_events.step_mask >> (steps.step - 1)) & 1 = 1
    group by window_events.person_key, window_events.grp, window_events.furthest, steps.step
),

ranked as (
    select
        *,
        row_number() over (partition by person_key, grp order by ts_us, pos, step) as step_rank
    from first_by_step
)

select
    person_key,
    grp,
    step_rank as step,
    pos,
    ts_us - lag(ts_us) over (partition by person_key, grp order by step_rank) as gap_us
from ranked
where step_rank <= furthest
