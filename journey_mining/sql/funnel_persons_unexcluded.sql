-- Without exclusions, funnel_attempts in one pass: one row per person (and group), the furthest
-- step any attempt reached and the first attempt reaching it, as the largest (step, -start_pos).
create or replace temp table _jm_funnel_persons as
select
    person_key,
    grp,
    best.step as furthest,
    -best.negative_start as start_pos
from (
    select
        person_key,
        grp,
        max(struct_pack(step := step, negative_start := -start_pos)) as best
    from _jm_funnel_chain
    group by person_key, grp
)
