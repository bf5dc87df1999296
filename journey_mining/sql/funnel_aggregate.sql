-- One row per bucket and step reached by anyone: persons, and the times from the step before.
select
    buckets.bucket,
    steps.step,
    count(*) as persons,
    avg(times.gap_us) / 1e6 as average_seconds,
    quantile_cont(times.gap_us, 0.5) / 1e6 as median_seconds,
    {person_list} as person_keys
from _jm_funnel_buckets as buckets
inner join _jm_funnel_persons as persons
    on persons.person_key = buckets.person_key and persons.grp = buckets.grp
cross join range(1, $n_steps + 1) as steps (step)
left join _jm_funnel_times as times
    on
        times.person_key = buckets.person_key
        and times.grp = buckets.grp
        and times.step = steps.step
where persons.furthest >= steps.step
group by buckets.bucket, steps.step
order by buckets.bucket, steps.step
