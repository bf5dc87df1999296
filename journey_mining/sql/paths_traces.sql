-- The compact form of the log, from one sort per case: each case's (activity code, time) steps in
-- its order (timestamp, then file order, then activity code). Variants, the DFG and the summary
-- all read this. The steps are gathered unordered and each case's list is sorted as a whole
-- (list_sort of (time, order, code) structs): less than half the work of an ordered aggregate.
create or replace temp table {traces} as
select
    -- ids
    cast(log.{case_col} as varchar) as case_id,
    -- measures
    list_transform(
        list_sort(
            list(
                struct_pack(
                    ts_us := epoch_us(log.{timestamp_col}),
                    seq := {order_col},
                    code := activities.code
                )
            )
        ),
        lambda step: struct_pack(code := step.code, ts_us := step.ts_us)
    ) as steps
from {relation} as log
left join {activities} as activities
    on activities.activity = cast(log.{activity_col} as varchar)
where log.{case_col} is not null and log.{timestamp_col} is not null
group by case_id
