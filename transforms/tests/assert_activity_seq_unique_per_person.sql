-- A failing row is a person and activity_seq that fct_activities holds more than once.
--
-- Only the persons the last build wrote rows of are checked (every person after a full
-- build): a person's rows change only when a build writes some of them, appended or rebuilt,
-- so the sequence of a person no build touched since was checked when it was last written.
-- A daily refresh then checks a day's persons, not the whole stream.

-- Dagster shows it as a check on fct_activities.
{{ config(meta={'dagster': {'ref': {'name': 'fct_activities'}}}) }}

with

stream as (

    select person_key, activity_seq, built_at from {{ ref('fct_activities') }}

),

persons_last_written as (

    select distinct person_key from stream
    where built_at = (select max(built_at) from stream)

)

select
    person_key,
    activity_seq,
    count(*) as n_rows

from stream
where person_key in (select person_key from persons_last_written)
group by person_key, activity_seq
having count(*) > 1
