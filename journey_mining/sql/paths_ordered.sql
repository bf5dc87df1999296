-- One row per event of the log, numbered within its case by timestamp, then file order.
create or replace temp table _jm_paths_ordered as
select
    -- ids
    cast({case_col} as varchar) as case_id,
    row_number() over (partition by {case_col} order by {timestamp_col}, {order_col}) as position,
    -- dimensions
    cast({activity_col} as varchar) as activity,
    -- timestamps
    epoch_us({timestamp_col}) as ts_us
from {relation}
where {case_col} is not null and {timestamp_col} is not null
