-- Attempts per journey, persona and stage variant (the trace of stage visits in visit order):
-- the aggregate that conformance aligns with the designed path, once per distinct variant.
with traces as (
{traces}
)

select journey_id, persona_id, activities, count(*) as persons
from traces
group by journey_id, persona_id, activities
