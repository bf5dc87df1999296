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

-- Personas read only the attributes that persona conditions name, so persons with the same
-- values of those have the same personas. Each person's profile lists those values, each
-- written as length:text so no value can blur into the next; the rules are evaluated once per
-- profile, for its first person, and every person takes its profile's personas.
persona_attributes as (

    select attributes.person_key, attributes.attribute, attributes.value_text
    from attributes
    where attributes.attribute in (select property from conditions)

),

person_profiles as (

    select
        persons.person_key,
        coalesce(
            {{ string_agg_ordered(
                dbt.concat([
                    'cast(length(persona_attributes.attribute) as ' ~ dbt.type_string() ~ ')',
                    "':'",
                    'persona_attributes.attribute',
                    'cast(length(persona_attributes.value_text) as ' ~ dbt.type_string() ~ ')',
                    "':'",
                    'persona_attributes.value_text',
                ]),
                '',
                'persona_attributes.attribute',
            ) }},
            ''
        ) as profile

    from persons
    left join persona_attributes
        on persons.person_key = persona_attributes.person_key
    group by persons.person_key

),

profiles as (

    select
        profile,
        min(person_key) as person_key

    from person_profiles
    group by profile

),

condition_checks as (

    select
        profiles.person_key,
        conditions.journey_id,
        conditions.owner_id as persona_id,
        conditions.clause_id,
        conditions.condition_id,
        {{ rule_condition_group_holds(
            'conditions.op',
            rule_condition_holds(
                'conditions.op',
                'persona_attributes.value_text',
                'conditions.value_text',
                'conditions.value_number',
            ),
        ) }} as condition_holds

    from profiles
    cross join conditions
    -- the persona attributes hold every attribute a condition names: the same matches as all
    -- attributes, from a smaller table to hash (8 of 20M rows at 50M events)
    left join persona_attributes
        on profiles.person_key = persona_attributes.person_key
        and conditions.property = persona_attributes.attribute
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
        profiles.person_key,
        persona_rules.journey_id,
        persona_rules.persona_id,
        persona_rules.persona_order,
        row_number() over (
            partition by profiles.person_key, persona_rules.journey_id
            order by persona_rules.persona_order, persona_rules.persona_id
        ) as persona_rank

    from profiles
    cross join persona_rules
    left join clause_scores
        on profiles.person_key = clause_scores.person_key
        and persona_rules.journey_id = clause_scores.journey_id
        and persona_rules.persona_id = clause_scores.persona_id
        and persona_rules.clause_id = clause_scores.clause_id
    where coalesce(clause_scores.n_conditions_held, 0) = persona_rules.n_conditions

),

final as (

    select
        -- ids
        person_profiles.person_key,
        journeys.journey_id,
        coalesce(matched_personas.persona_id, 'unassigned') as persona_id,

        -- dimensions
        matched_personas.persona_order

    from person_profiles
    inner join profiles
        on person_profiles.profile = profiles.profile
    cross join journeys
    left join matched_personas
        on profiles.person_key = matched_personas.person_key
        and journeys.journey_id = matched_personas.journey_id
        and matched_personas.persona_rank = 1

)

select * from final
