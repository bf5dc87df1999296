-- One row per distinct activity of the log: a small integer code, in name order, so a trace is a
-- list of integers while it is sorted, grouped and paired.
create or replace temp table {activities} as
select
    activity,
    cast(row_number() over (order by activity) as integer) as code
from (
    select distinct cast({activity_col} as varchar) as activity
    from {relation}
    where {case_col} is not null and {timestamp_col} is not null
)
