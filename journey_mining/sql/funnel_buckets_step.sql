-- One row per person reaching step N: the breakdown value on their step-N event.
create or replace temp table _jm_funnel_buckets as
select
    times.person_key,
    times.grp,
    events.breakdown_value as bucket
from _jm_funnel_times as times
inner join _jm_funnel_events as events
    on
        events.person_key = times.person_key
        and events.grp = times.grp
        and events.pos = times.pos
where times.step = $attribution_step
