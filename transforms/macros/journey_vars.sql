{% macro as_of_timestamp() -%}
    {%- if var('as_of') -%}
        cast({{ dbt.string_literal(dbt.escape_single_quotes(var('as_of') | string)) }} as {{ dbt.type_timestamp() }})
    {%- else -%}
        (select max(ts) from {{ ref('fct_activities') }})
    {%- endif -%}
{%- endmacro %}


{% macro incremental_window_holds(ts_column) -%}
    {%- if var('min_date') or var('max_date') -%}
        {%- if var('min_date') %}
        {{ ts_column }} >= cast({{ dbt.string_literal(dbt.escape_single_quotes(var('min_date') | string)) }} as {{ dbt.type_timestamp() }})
        {%- else %} 1 = 1 {%- endif %}
        {%- if var('max_date') %}
        and {{ ts_column }} < {{ add_seconds('cast(' ~ dbt.string_literal(dbt.escape_single_quotes(var('max_date') | string)) ~ ' as ' ~ dbt.type_timestamp() ~ ')', 86400) }}
        {%- endif %}
    {%- else -%}
        {{ ts_column }} > (select max(ts) from {{ this }})
    {%- endif -%}
{%- endmacro %}
