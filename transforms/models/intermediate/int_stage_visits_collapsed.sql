{#
    A visit is a run of consecutive stage-matched activities in the same stage, ordered by
    (ts, activity_seq); a loop back to an earlier stage starts a new visit. An activity exactly
    at window_closes_at is inside the attempt.
#}
with

matched_activities as (

    select * from {{ ref('int_activities_matched_to_stages') }}

),

attempts as (

    select * from {{ ref('int_journey_attempts_opened') }}

),

activities_in_attempt as (

    select
        matched_activities.person_key,
        matched_activities.journey_id,
        attempts.attempt_number,
        matched_activities.stage_id,
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
            when lag(stage_id) over (
                partition by person_key, journey_id, attempt_number
                order by ts, activity_seq
            ) = stage_id then 0
            else 1
        end as is_visit_start

    from activities_in_attempt

),

numbered_visits as (

    select
        *,
        sum(is_visit_start) over (
            partition by person_key, journey_id, attempt_number
            order by ts, activity_seq
            rows between unbounded preceding and current row
        ) as visit_number

    from flagged_visit_starts

),

final as (

    select
        -- ids
        person_key,
        journey_id,
        attempt_number,
        visit_number,
        stage_id,

        -- dimensions
        stage_order,

        -- measures
        count(*) as n_activities,

        -- timestamps
        min(ts) as visited_at,
        max(ts) as last_activity_at

    from numbered_visits
    group by 1, 2, 3, 4, 5, 6

)

select * from final
