-- One row per variant (the ordered activities of a case): its cases and their share.
with traces as (
    select case_id, list(activity order by position) as activities
    from _jm_paths_ordered
    group by case_id
)

select
    activities,
    count(*) as cases,
    count(*) / sum(count(*)) over () as share
from traces
group by activities
order by cases desc, array_to_string(activities, ' > ')
