-- One row per variant (the ordered activity codes of a case) and its cases; paths.py names them.
select
    list_transform(steps, lambda step: step.code) as codes,
    count(*) as cases
from {traces}
group by codes
