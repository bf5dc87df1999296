-- One row per step of each person's chosen attempt: its event and the gap from the step before.
create or replace temp table _jm_funnel_times as
select
    chain.person_key,
    chain.grp,
    chain.step,
    chain.pos,
    chain.ts_us - chain.previous_ts as gap_us
from _jm_funnel_chain as chain
inner join _jm_funnel_persons as persons
    on
        persons.person_key = chain.person_key
        and persons.grp = chain.grp
        and persons.start_pos = chain.start_pos
