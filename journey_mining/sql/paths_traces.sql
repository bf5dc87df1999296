-- The compact form of the log, from one sort per case: each case's (activity code, time) steps in
-- its order (timestamp, then file order). Variants, the DFG and the summary all read this.
create or replace temp table {traces} as
select
    -- ids
    cast(log.{case_col} as varchar) as case_id,
    -- measures
    list(
        struct_pack(code := activities.code, ts_us := epoch_us(log.{timestamp_col}))
        order by log.{timestamp_col}, {order_col}
    ) as steps
from {relation} as log
left join {activities} as activities
    on activities.activity = cast(log.{activity_col} as varchar)
where log.{case_col} is not null and log.{timestamp_col} is not null
group by case_id
