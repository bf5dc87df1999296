-- One row per person (and group): the most distinct steps a clean window holds, and the first
-- such window. Persons whose every window an exclusion cancelled drop out.
create or replace temp table _jm_funnel_persons as
with clean as (
    select * from _jm_funnel_windows where not (is_cut and matched < $n_steps)
),

best as (
    select person_key, grp, max(matched) as furthest from clean group by person_key, grp
)

select
    clean.person_key,
    clean.grp,
    best.furthest,
    min(clean.anchor_pos) as start_pos,
    arg_min(clean.anchor_ts, clean.anchor_pos) as start_ts,
    arg_min(clean.end_ts, clean.anchor_pos) as end_ts
from clean
inner join best
    on
        best.person_key = clean.person_key
        and best.grp = clean.grp
        and best.furthest = clean.matched
group by clean.person_key, clean.grp, best.furthest
