{#
    A visit is a run of consecutive stage-matched activities in the same stage, ordered by
    (ts, activity_seq); a loop back to an earlier stage starts a new visit. An activity exactly
    at window_closes_at is inside the attempt.

    The windows number visits per attempt_key over the narrow rows (integers and a timestamp):
    partitioning by the person key, journey and attempt number and carrying them through both
    sorts took a third longer at 50M events. The ids come back from the attempts afterwards,
    the stage id from the journey's stages (stage_order is unique per journey). attempt_key is
    kept, so the marts join and order visits by it.
#}
with

matched_activities as (

    select * from {{ ref('int_activities_matched_to_stages') }}

),

attempts as (

    select * from {{ ref('int_journey_attempts_opened') }}

),

stages as (

    select * from {{ ref('stg_journey__stages') }}

),

activities_in_attempt as (

    select
        attempts.attempt_key,
        matched_activities.stage_order,
        matched_activities.activity_seq,
        matched_activities.ts

    from matched_activities
    inner join attempts
        on matched_activities.person_key = attempts.person_key
        and matched_activities.journey_id = attempts.journey_id
    where matched_activities.ts >= attempts.entered_at
        and matched_activities.ts <= attempts.window_closes_at
        and matched_activities.ts <= attempts.as_of_at

),

flagged_visit_starts as (

    select
        *,
        case
            when lag(stage_order) over (
                partition by attempt_key
                order by ts, activity_seq
            ) = stage_order then 0
            else 1
        end as is_visit_start

    from activities_in_attempt

),

numbered_visits as (

    select
        *,
        sum(is_visit_start) over (
            partition by attempt_key
            order by ts, activity_seq
            rows between unbounded preceding and current row
        ) as visit_number

    from flagged_visit_starts

),

visits as (

    select
        attempt_key,
        visit_number,
        stage_order,
        count(*) as n_activities,
        min(ts) as visited_at,
        max(ts) as last_activity_at

    from numbered_visits
    group by 1, 2, 3

),

final as (

    select
        -- ids
        attempts.person_key,
        attempts.journey_id,
        attempts.attempt_number,
        visits.attempt_key,
        visits.visit_number,
        stages.stage_id,

        -- dimensions
        visits.stage_order,

        -- measures
        visits.n_activities,

        -- timestamps
        visits.visited_at,
        visits.last_activity_at

    from visits
    inner join attempts
        on visits.attempt_key = attempts.attempt_key
    inner join stages
        on attempts.journey_id = stages.journey_id
        and visits.stage_order = stages.stage_order

)

select * from final
