-- One row per window (one starts at every step event): how many distinct steps its events can
-- fill, one event per step (Hall's deficiency over step subsets), and whether an exclusion cut
-- it before it was complete.
create or replace temp table _jm_funnel_windows as
with next_exclusion as (
    select
        person_key,
        grp,
        pos,
        step_mask,
        ts_us,
        min(case when exclusion_mask <> 0 then ts_us end) over (
            partition by person_key, grp
            order by ts_us
            range between 1 following and unbounded following
        ) as cut_ts
    from _jm_funnel_events
),

anchors as (
    select
        person_key,
        grp,
        pos as anchor_pos,
        ts_us as anchor_ts,
        coalesce(cut_ts <= ts_us + $window_us, false) as is_cut,
        case when cut_ts <= ts_us + $window_us then cut_ts else ts_us + $window_us end as end_ts
    from next_exclusion
    where step_mask <> 0
),

masks as (
    select
        anchors.person_key,
        anchors.grp,
        anchors.anchor_pos,
        anchors.anchor_ts,
        anchors.end_ts,
        anchors.is_cut,
        window_events.step_mask,
        least(count(*), $n_steps) as events
    from anchors
    inner join _jm_funnel_events as window_events
        on
            window_events.person_key = anchors.person_key
            and window_events.grp = anchors.grp
            and window_events.ts_us between anchors.anchor_ts and anchors.end_ts
            and window_events.step_mask <> 0
    group by
        anchors.person_key,
        anchors.grp,
        anchors.anchor_pos,
        anchors.anchor_ts,
        anchors.end_ts,
        anchors.is_cut,
        window_events.step_mask
),

deficits as (
    select
        person_key,
        grp,
        anchor_pos,
        anchor_ts,
        end_ts,
        is_cut,
        bit_count(subsets.subset)
        - sum(case when step_mask & subsets.subset <> 0 then events else 0 end) as deficit
    from masks
    cross join range(1, $subsets) as subsets (subset)
    group by person_key, grp, anchor_pos, anchor_ts, end_ts, is_cut, subsets.subset
)

select
    person_key,
    grp,
    anchor_pos,
    anchor_ts,
    end_ts,
    is_cut,
    $n_steps - greatest(0, max(deficit)) as matched
from deficits
group by person_key, grp, anchor_pos, anchor_ts, end_ts, is_cut
