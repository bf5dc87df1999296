-- One row per event of a loaded log, in the activity-stream shape; ts is parsed afterwards.
create or replace temp table "{table}" as
select
    -- ids
    raw.rowid as activity_seq,
    cast(raw."{case_col}" as varchar) as person_key,
    -- dimensions
    cast(raw."{activity_col}" as varchar) as event,
    {properties} as properties,
    -- timestamps
    cast(raw."{timestamp_col}" as varchar) as ts_text
from "{raw}" as raw
order by raw.rowid
