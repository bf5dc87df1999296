{#
    Incremental by activity: a run matches only the activities fct_activities wrote since the
    last one (new, appended or rebuilt; a rebuilt person's rows may carry a new person key or
    activity_seq), and delete+insert on event_id replaces their earlier matches. When a
    journey model was added, removed or changed since, every match is stale: the pre-hook
    empties the table and every activity is matched again (incremental_state).
#}
{{
    config(
        materialized=('table' if target.type == 'spark' else 'incremental'),
        incremental_strategy='delete+insert',
        unique_key='event_id',
        on_schema_change='fail',
        pre_hook="{{ forget_stale_stage_matches() }}",
        post_hook="{{ save_stage_match_state() }}",
    )
}}

{%- set new_activities_only = is_incremental() and not stage_matches_are_stale() %}

with

activities as {{ not_materialized() }} (

    select * from {{ ref('fct_activities') }}
    {%- if new_activities_only %}
    where built_at > (select built_at from {{ incremental_state('stream') }})
    {%- endif %}

),

stages as (

    select * from {{ ref('stg_journey__stages') }}

),

stage_rules as (

    select * from {{ ref('stg_journey__stage_rules') }}

),

conditions as (

    select * from {{ ref('stg_journey__rule_conditions') }}
    where rule_kind = 'stage'

),

-- Rules read only an activity's source, event and properties, and 9.5M demo activities have
-- 1.6M distinct such signatures: the rules are evaluated once per signature. A missing
-- properties object reads as {} (every property missing), so the key is never null.
signatures as (

    select distinct
        activity_source,
        event,
        coalesce(properties, '{}') as properties

    from activities

),

candidate_clauses as (

    select
        signatures.activity_source,
        signatures.event,
        signatures.properties,
        stage_rules.journey_id,
        stage_rules.stage_id,
        stage_rules.clause_id,
        stage_rules.n_conditions

    from signatures
    inner join stage_rules
        on signatures.activity_source = stage_rules.activity_source
        and signatures.event like stage_rules.event_like escape {{ backslash_literal() }}

),

condition_checks as (

    select
        candidate_clauses.activity_source,
        candidate_clauses.event,
        candidate_clauses.properties,
        candidate_clauses.journey_id,
        candidate_clauses.stage_id,
        candidate_clauses.clause_id,
        conditions.condition_id,
        {{ rule_condition_group_holds(
            'conditions.op',
            rule_condition_holds(
                'conditions.op',
                json_extract_text('candidate_clauses.properties', 'conditions.property'),
                'conditions.value_text',
                'conditions.value_number',
            ),
        ) }} as condition_holds

    from candidate_clauses
    inner join conditions
        on candidate_clauses.journey_id = conditions.journey_id
        and candidate_clauses.stage_id = conditions.owner_id
        and candidate_clauses.clause_id = conditions.clause_id
    group by 1, 2, 3, 4, 5, 6, 7

),

clause_scores as (

    select
        activity_source,
        event,
        properties,
        journey_id,
        stage_id,
        clause_id,
        sum(case when condition_holds then 1 else 0 end) as n_conditions_held

    from condition_checks
    group by 1, 2, 3, 4, 5, 6

),

matched_clauses as (

    select
        candidate_clauses.activity_source,
        candidate_clauses.event,
        candidate_clauses.properties,
        candidate_clauses.journey_id,
        candidate_clauses.stage_id

    from candidate_clauses
    left join clause_scores
        on candidate_clauses.activity_source = clause_scores.activity_source
        and candidate_clauses.event = clause_scores.event
        and candidate_clauses.properties = clause_scores.properties
        and candidate_clauses.journey_id = clause_scores.journey_id
        and candidate_clauses.stage_id = clause_scores.stage_id
        and candidate_clauses.clause_id = clause_scores.clause_id
    where coalesce(clause_scores.n_conditions_held, 0) = candidate_clauses.n_conditions

),

matched_stages as (

    select distinct
        matched_clauses.activity_source,
        matched_clauses.event,
        matched_clauses.properties,
        matched_clauses.journey_id,
        matched_clauses.stage_id,
        stages.stage_order

    from matched_clauses
    inner join stages
        on matched_clauses.journey_id = stages.journey_id
        and matched_clauses.stage_id = stages.stage_id

),

ranked_stages as (

    select
        *,
        row_number() over (
            partition by activity_source, event, properties, journey_id
            order by stage_order, stage_id
        ) as stage_rank,
        count(*) over (
            partition by activity_source, event, properties, journey_id
        ) as n_matching_stages

    from matched_stages

),

final as (

    select
        -- ids
        activities.event_id,
        activities.person_key,
        ranked_stages.journey_id,
        ranked_stages.stage_id,

        -- dimensions
        ranked_stages.stage_order,
        activities.event,
        activities.channel,
        activities.activity_source,

        -- measures
        activities.activity_seq,
        ranked_stages.n_matching_stages,

        -- timestamps
        activities.ts

    from activities
    inner join ranked_stages
        on activities.activity_source = ranked_stages.activity_source
        and activities.event = ranked_stages.event
        and coalesce(activities.properties, '{}') = ranked_stages.properties
    where ranked_stages.stage_rank = 1

)

select * from final
