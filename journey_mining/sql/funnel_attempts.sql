-- One row per person (and group): the furthest step any attempt reached and the first clean
-- attempt reaching it. Persons whose every furthest attempt is spoiled by an exclusion drop out.
create or replace temp table _jm_funnel_persons as
with attempts as (
    select person_key, grp, start_pos, any_value(start_ts) as start_ts, max(step) as reached
    from _jm_funnel_chain
    group by person_key, grp, start_pos
),

spoiled as (
    select distinct
        from_row.person_key,
        from_row.grp,
        from_row.start_pos
    from _jm_funnel_chain as from_row
    inner join _jm_funnel_exclusion_defs as defs on defs.from_step = from_row.step
    left join _jm_funnel_chain as to_row
        on
            to_row.person_key = from_row.person_key
            and to_row.grp = from_row.grp
            and to_row.start_pos = from_row.start_pos
            and to_row.step = defs.to_step
    inner join _jm_funnel_events as excluded
        on
            excluded.person_key = from_row.person_key
            and excluded.grp = from_row.grp
            and (excluded.exclusion_mask >> defs.exclusion_index) & 1 = 1
            and excluded.ts_us > from_row.ts_us
            and excluded.ts_us <= coalesce(to_row.ts_us - 1, from_row.start_ts + $window_us)
),

furthest as (
    select person_key, grp, max(reached) as furthest
    from attempts
    group by person_key, grp
),

clean_furthest as (
    select attempts.*
    from attempts
    inner join furthest
        on
            furthest.person_key = attempts.person_key
            and furthest.grp = attempts.grp
            and furthest.furthest = attempts.reached
    anti join spoiled
        on
            spoiled.person_key = attempts.person_key
            and spoiled.grp = attempts.grp
            and spoiled.start_pos = attempts.start_pos
)

select person_key, grp, max(reached) as furthest, min(start_pos) as start_pos
from clean_furthest
group by person_key, grp
