{#
    The join condition of an activity with its identity: the first identifier present (user
    id, else anonymous id, else contact id) names the person. One join instead of one per
    identifier type.
#}
{% macro activity_identity_matches(activities, identities) -%}
    {{ identities }}.identifier_type = case
        when {{ activities }}.user_id is not null then 'user_id'
        when {{ activities }}.anonymous_id is not null then 'anonymous_id'
        else 'contact_id'
    end
    and {{ identities }}.identifier = coalesce(
        {{ activities }}.user_id, {{ activities }}.anonymous_id, {{ activities }}.contact_id
    )
{%- endmacro %}
