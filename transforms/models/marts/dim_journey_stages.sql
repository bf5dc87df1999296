-- One row per stage of each journey model, with the journey's window and designed path, so
-- the mining layer and the map read stage order, owners, KPI targets and qualitative layers
-- from one place; and the refresh's as-of time, so the map needs no fact table for it.

with

stages as (

    select * from {{ ref('stg_journey__stages') }}

),

journeys as (

    select * from {{ ref('stg_journey__models') }}

),

as_of as (

    select {{ as_of_timestamp() }} as as_of_at

),

final as (

    select
        -- ids
        stages.journey_id,
        stages.stage_id,

        -- dimensions
        stages.stage_order,
        stages.stage_name,
        stages.owner,
        stages.layers,
        stages.kpis,
        journeys.journey_name,
        journeys.designed_path,
        stages.stage_id = journeys.final_stage_id as is_final_stage,
        {{ json_array_position('journeys.designed_path', 'stages.stage_id') }} as designed_position,

        -- measures
        journeys.window_seconds,

        -- timestamps
        as_of.as_of_at

    from stages
    inner join journeys
        on stages.journey_id = journeys.journey_id
    cross join as_of

)

select * from final
