-- One row per person (and group): the group itself is the bucket (no breakdown, or all_events).
create or replace temp table _jm_funnel_buckets as
select person_key, grp, grp as bucket from _jm_funnel_persons
