-- Attempts per journey, persona, status and stage path (the stage ids of the attempt's visits
-- joined by ' > ' in visit order): the compact form loops, skips and deviations are read from.
select journey_id, persona_id, status, stage_path, count(*) as persons
from marts.fct_journeys
group by journey_id, persona_id, status, stage_path
