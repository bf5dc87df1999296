{% macro rule_condition_holds(op, actual_text, value_text, value_number) -%}
    {%- set actual_number = try_cast_as(actual_text, type_double()) -%}
    {%- set values_equal -%}
        case
            when {{ value_number }} is not null and {{ actual_number }} is not null
                then {{ actual_number }} = {{ value_number }}
            else {{ actual_text }} = {{ value_text }}
        end
    {%- endset -%}
    coalesce(
        case {{ op }}
            when 'eq' then {{ values_equal }}
            when 'in' then {{ values_equal }}
            when 'not_in' then {{ actual_text }} is null or not ({{ values_equal }})
            when 'contains' then position({{ value_text }} in {{ actual_text }}) > 0
            when 'icontains' then position(lower({{ value_text }}) in lower({{ actual_text }})) > 0
            when 'startswith' then substr({{ actual_text }}, 1, length({{ value_text }})) = {{ value_text }}
            when 'gt' then case
                when {{ value_number }} is not null then {{ actual_number }} > {{ value_number }}
                else {{ actual_text }} > {{ value_text }}
            end
            when 'gte' then case
                when {{ value_number }} is not null then {{ actual_number }} >= {{ value_number }}
                else {{ actual_text }} >= {{ value_text }}
            end
            when 'lt' then case
                when {{ value_number }} is not null then {{ actual_number }} < {{ value_number }}
                else {{ actual_text }} < {{ value_text }}
            end
            when 'lte' then case
                when {{ value_number }} is not null then {{ actual_number }} <= {{ value_number }}
                else {{ actual_text }} <= {{ value_text }}
            end
            when 'exists' then case {{ value_text }}
                when 'true' then {{ actual_text }} is not null
                when 'false' then {{ actual_text }} is null
            end
        end,
        false
    )
{%- endmacro %}


{% macro rule_condition_group_holds(op, holds) -%}
    case
        when max({{ op }}) = 'not_in' then min(case when {{ holds }} then 1 else 0 end) = 1
        else max(case when {{ holds }} then 1 else 0 end) = 1
    end
{%- endmacro %}
