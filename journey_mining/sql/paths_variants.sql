-- One row per variant (the ordered activities of a case): its cases and their share.
with counted as (
    select
        list_transform(steps, lambda step: step.code) as codes,
        count(*) as cases
    from {traces}
    group by codes
),

names as (
    select list(activity order by code) as names from {activities}
),

decoded as (
    select
        list_transform(counted.codes, lambda code: names.names[code]) as activities,
        counted.cases
    from counted
    cross join names
)

select
    activities,
    cases,
    cases / sum(cases) over () as share
from decoded
order by cases desc, array_to_string(activities, ' > ')
