{#
    One attempt per person per journey: it opens at the person's first stage-matched activity
    (up to as_of) and its window closes window_seconds later. Activities after the close belong
    to no attempt until re-entry is modelled (attempt_number is there for that).

    attempt_key numbers the attempts 1..n in (person_key, journey_id, attempt_number) order: one
    integer the mining layer groups and joins millions of rows on instead of three columns. It
    is rebuilt with the marts each refresh, so it is only for joining tables of one refresh.
#}
with

matched_activities as (

    select * from {{ ref('int_activities_matched_to_stages') }}

),

journeys as (

    select * from {{ ref('stg_journey__models') }}

),

as_of as (

    select {{ as_of_timestamp() }} as as_of_at

),

first_entries as (

    select
        matched_activities.person_key,
        matched_activities.journey_id,
        min(matched_activities.ts) as entered_at

    from matched_activities
    cross join as_of
    where matched_activities.ts <= as_of.as_of_at
    group by 1, 2

),

final as (

    select
        -- ids
        first_entries.person_key,
        first_entries.journey_id,
        1 as attempt_number,
        cast(row_number() over (
            order by first_entries.person_key, first_entries.journey_id
        ) as {{ dbt.type_bigint() }}) as attempt_key,

        -- measures
        journeys.window_seconds,

        -- timestamps
        first_entries.entered_at,
        {{ add_seconds('first_entries.entered_at', 'journeys.window_seconds') }} as window_closes_at,
        as_of.as_of_at

    from first_entries
    inner join journeys
        on first_entries.journey_id = journeys.journey_id
    cross join as_of

)

select * from final
