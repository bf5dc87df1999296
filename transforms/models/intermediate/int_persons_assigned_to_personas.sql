with

identities as (

    select * from {{ ref('int_identities_stitched') }}

),

attributes as (

    select * from {{ ref('int_person_attributes') }}

),

journeys as (

    select * from {{ ref('stg_journey__models') }}

),

persona_rules as (

    select * from {{ ref('stg_journey__persona_rules') }}

),

conditions as (

    select * from {{ ref('stg_journey__rule_conditions') }}
    where rule_kind = 'persona'

),

persons as (

    select distinct person_key from identities

),

condition_checks as (

    select
        persons.person_key,
        conditions.journey_id,
        conditions.owner_id as persona_id,
        conditions.clause_id,
        conditions.condition_id,
        {{ rule_condition_group_holds(
            'conditions.op',
            rule_condition_holds(
                'conditions.op',
                'attributes.value_text',
                'conditions.value_text',
                'conditions.value_number',
            ),
        ) }} as condition_holds

    from persons
    cross join conditions
    left join attributes
        on persons.person_key = attributes.person_key
        and conditions.property = attributes.attribute
    group by 1, 2, 3, 4, 5

),

clause_scores as (

    select
        person_key,
        journey_id,
        persona_id,
        clause_id,
        sum(case when condition_holds then 1 else 0 end) as n_conditions_held

    from condition_checks
    group by 1, 2, 3, 4

),

matched_personas as (

    select
        persons.person_key,
        persona_rules.journey_id,
        persona_rules.persona_id,
        persona_rules.persona_order,
        row_number() over (
            partition by persons.person_key, persona_rules.journey_id
            order by persona_rules.persona_order, persona_rules.persona_id
        ) as persona_rank

    from persons
    cross join persona_rules
    left join clause_scores
        on persons.person_key = clause_scores.person_key
        and persona_rules.journey_id = clause_scores.journey_id
        and persona_rules.persona_id = clause_scores.persona_id
        and persona_rules.clause_id = clause_scores.clause_id
    where coalesce(clause_scores.n_conditions_held, 0) = persona_rules.n_conditions

),

final as (

    select
        -- ids
        persons.person_key,
        journeys.journey_id,
        coalesce(matched_personas.persona_id, 'unassigned') as persona_id,

        -- dimensions
        matched_personas.persona_order

    from persons
    cross join journeys
    left join matched_personas
        on persons.person_key = matched_personas.person_key
        and journeys.journey_id = matched_personas.journey_id
        and matched_personas.persona_rank = 1

)

select * from final
