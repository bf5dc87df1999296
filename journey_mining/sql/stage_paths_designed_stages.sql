-- One row per stage of each journey's designed path, numbered 1.. in designed order.
with designed_paths as (
    select distinct
        journey_id,
        json_transform(designed_path, '["VARCHAR"]') as designed_path
    from marts.dim_journey_stages
)

select
    journey_id,
    unnest(designed_path) as stage_id,
    unnest(range(1, len(designed_path) + 1)) as designed_position
from designed_paths
