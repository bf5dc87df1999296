-- One row per person: the breakdown value of their first (or last) step event that has one.
create or replace temp table _jm_funnel_buckets as
select
    persons.person_key,
    persons.grp,
    coalesce(
        {pick}(events.breakdown_value, events.pos) filter (
            where events.step_mask <> 0 and events.has_breakdown
        ),
        $empty_value
    ) as bucket
from _jm_funnel_persons as persons
inner join _jm_funnel_events as events
    on events.person_key = persons.person_key and events.grp = persons.grp
group by persons.person_key, persons.grp
