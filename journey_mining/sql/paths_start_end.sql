-- One row per activity that starts or ends a case: how many cases it starts or ends.
with ends as (
    select
        steps[1].code as start_code,
        steps[-1].code as end_code
    from {traces}
),

names as (
    select list(activity order by code) as names from {activities}
),

counted as (
    select 'start' as kind, start_code as code, count(*) as cases
    from ends
    group by start_code
    union all
    select 'end' as kind, end_code as code, count(*) as cases
    from ends
    group by end_code
)

select counted.kind, names.names[counted.code] as activity, counted.cases
from counted
cross join names
order by counted.kind, counted.cases desc, activity
