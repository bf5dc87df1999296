-- One row per directly-follows pair: how often it occurs and the median seconds between.
with transitions as (
    select
        activity as source,
        lead(activity) over by_case as target,
        lead(ts_us) over by_case - ts_us as gap_us
    from _jm_paths_ordered
    window by_case as (partition by case_id order by position)
)

select
    source,
    target,
    count(*) as transitions,
    quantile_cont(gap_us, 0.5) / 1e6 as median_seconds
from transitions
where target is not null
group by source, target
order by transitions desc, source, target
