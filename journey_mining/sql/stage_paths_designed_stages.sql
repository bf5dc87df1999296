-- One row per stage of each journey's designed path, numbered 1.. in designed order.
select journey_id, stage_id, designed_position
from marts.dim_journey_stages
where designed_position is not null
