{% macro json_extract_text(json_text, key) -%}
    {{ return(adapter.dispatch('json_extract_text', 'journeymap')(json_text, key)) }}
{%- endmacro %}

{% macro default__json_extract_text(json_text, key) -%}
    json_extract_scalar({{ json_text }}, '$."' || {{ key }} || '"')
{%- endmacro %}

{% macro duckdb__json_extract_text(json_text, key) -%}
    json_extract_string({{ json_text }}, '$."' || {{ key }} || '"')
{%- endmacro %}


{% macro json_array_last_text(json_text) -%}
    {{ return(adapter.dispatch('json_array_last_text', 'journeymap')(json_text)) }}
{%- endmacro %}

{% macro default__json_array_last_text(json_text) -%}
    json_extract_scalar(
        {{ json_text }},
        '$[' || cast(json_array_length({{ json_text }}) - 1 as {{ dbt.type_string() }}) || ']'
    )
{%- endmacro %}

{% macro duckdb__json_array_last_text(json_text) -%}
    json_extract_string({{ json_text }}, '$[#-1]')
{%- endmacro %}


{% macro json_object_text(pairs) -%}
    {{ return(adapter.dispatch('json_object_text', 'journeymap')(pairs)) }}
{%- endmacro %}

{% macro default__json_object_text(pairs) -%}
    json_object(
        {%- for key, value in pairs %}
        key '{{ key }}' value {{ value }}{{ ',' if not loop.last }}
        {%- endfor %}
    )
{%- endmacro %}

{% macro duckdb__json_object_text(pairs) -%}
    cast(json_object(
        {%- for key, value in pairs %}
        '{{ key }}', {{ value }}{{ ',' if not loop.last }}
        {%- endfor %}
    ) as varchar)
{%- endmacro %}


{% macro add_seconds(timestamp_expr, seconds_expr) -%}
    {{ return(adapter.dispatch('add_seconds', 'journeymap')(timestamp_expr, seconds_expr)) }}
{%- endmacro %}

{% macro default__add_seconds(timestamp_expr, seconds_expr) -%}
    {{ dbt.dateadd('second', seconds_expr, timestamp_expr) }}
{%- endmacro %}

{% macro duckdb__add_seconds(timestamp_expr, seconds_expr) -%}
    ({{ timestamp_expr }} + to_seconds(cast({{ seconds_expr }} as bigint)))
{%- endmacro %}


{% macro string_agg_ordered(expr, delimiter, order_by) -%}
    {{ return(adapter.dispatch('string_agg_ordered', 'journeymap')(expr, delimiter, order_by)) }}
{%- endmacro %}

{% macro default__string_agg_ordered(expr, delimiter, order_by) -%}
    {{ dbt.listagg(expr, "'" ~ delimiter ~ "'", 'order by ' ~ order_by) }}
{%- endmacro %}

{% macro duckdb__string_agg_ordered(expr, delimiter, order_by) -%}
    string_agg({{ expr }}, '{{ delimiter }}' order by {{ order_by }})
{%- endmacro %}


{% macro type_double() -%}
    {{ return(adapter.dispatch('type_double', 'journeymap')()) }}
{%- endmacro %}

{% macro default__type_double() -%}
    double precision
{%- endmacro %}

{% macro duckdb__type_double() -%}
    double
{%- endmacro %}
