-- One row per activity that starts or ends a case: how many cases it starts or ends.
with cases as (
    select
        case_id,
        arg_min(activity, position) as start_activity,
        arg_max(activity, position) as end_activity
    from _jm_paths_ordered
    group by case_id
)

select 'start' as kind, start_activity as activity, count(*) as cases
from cases
group by start_activity
union all
select 'end' as kind, end_activity as activity, count(*) as cases
from cases
group by end_activity
order by kind, cases desc, activity
