-- One row per directly-follows pair: how often it occurs and the median seconds between.
with pairs as (
    select
        unnest(list_slice(steps, 1, len(steps) - 1)) as source_step,
        unnest(list_slice(steps, 2, len(steps))) as target_step
    from {traces}
),

counted as (
    select
        source_step.code as source_code,
        target_step.code as target_code,
        count(*) as transitions,
        quantile_cont(target_step.ts_us - source_step.ts_us, 0.5) / 1e6 as median_seconds
    from pairs
    group by source_code, target_code
),

names as (
    select list(activity order by code) as names from {activities}
)

select
    names.names[counted.source_code] as source,
    names.names[counted.target_code] as target,
    counted.transitions,
    counted.median_seconds
from counted
cross join names
order by transitions desc, source, target
