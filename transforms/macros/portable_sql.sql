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

{#- On DuckDB each group's (key, value) pairs are listed and the small lists sorted: the ordered
    string_agg sorted every group's rows apart and was most of fct_journeys (3 s of CPU for
    808K stage paths at 10M). Same result: nulls skipped, null keys last, null for no value;
    ties in the key follow the value. order_by is one expression. -#}
{% macro duckdb__string_agg_ordered(expr, delimiter, order_by) -%}
    array_to_string(
        list_transform(
            list_sort(list(struct_pack(k := {{ order_by }}, v := {{ expr }}))),
            lambda pair: pair.v
        ),
        '{{ delimiter }}'
    )
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


{#- The sum of a 64-bit hash of the columns over the rows: two sides holding the same rows (as
    a multiset) have equal sums, and other rows equal sums only by a 64-bit coincidence. -#}
{% macro fingerprint_sum(columns) -%}
    {{ return(adapter.dispatch('fingerprint_sum', 'journeymap')(columns)) }}
{%- endmacro %}

{% macro default__fingerprint_sum(columns) -%}
    sum(cast(xxhash64({{ columns | join(', ') }}) as decimal(38, 0)))
{%- endmacro %}

{% macro duckdb__fingerprint_sum(columns) -%}
    sum(cast(hash({{ columns | join(', ') }}) as hugeint))
{%- endmacro %}

{#
    Spark SQL (dbt-spark). Spark's string literals treat a backslash as an escape, its
    to_json drops null fields unless told not to, and its recursive CTEs take UNION ALL only.
#}

{% macro spark__json_extract_text(json_text, key) -%}
    get_json_object({{ json_text }}, concat('$[', chr(39), {{ key }}, chr(39), ']'))
{%- endmacro %}

{% macro spark__json_array_last_text(json_text) -%}
    element_at(from_json({{ json_text }}, 'array<string>'), -1)
{%- endmacro %}

{% macro spark__json_object_text(pairs) -%}
    to_json(
        named_struct(
            {%- for key, value in pairs %}
            '{{ key }}', {{ value }}{{ ',' if not loop.last }}
            {%- endfor %}
        ),
        map('ignoreNullFields', 'false')
    )
{%- endmacro %}

{% macro spark__add_seconds(timestamp_expr, seconds_expr) -%}
    timestampadd(second, cast({{ seconds_expr }} as bigint), {{ timestamp_expr }})
{%- endmacro %}

{% macro spark__string_agg_ordered(expr, delimiter, order_by) -%}
    listagg({{ expr }}, '{{ delimiter }}') within group (order by {{ order_by }})
{%- endmacro %}

{% macro spark__type_double() -%}
    double
{%- endmacro %}


{% macro try_cast_as(expr, type) -%}
    {{ return(adapter.dispatch('try_cast_as', 'journeymap')(expr, type)) }}
{%- endmacro %}

{% macro default__try_cast_as(expr, type) -%}
    {{ dbt.safe_cast(expr, type) }}
{%- endmacro %}

{% macro spark__try_cast_as(expr, type) -%}
    try_cast({{ expr }} as {{ type }})
{%- endmacro %}


{% macro backslash_literal() -%}
    {{ return(adapter.dispatch('backslash_literal', 'journeymap')()) }}
{%- endmacro %}

{% macro default__backslash_literal() -%}
    '\'
{%- endmacro %}

{% macro spark__backslash_literal() -%}
    '\\'
{%- endmacro %}


{#
    reachable_users(user_ids, user_edges): the CTE `reachable_users (user_id, reachable_user_id)`,
    every user paired with each user its alias edges reach (itself included).
#}
{% macro reachable_users(user_ids, user_edges) -%}
    {{ return(adapter.dispatch('reachable_users', 'journeymap')(user_ids, user_edges)) }}
{%- endmacro %}

{% macro default__reachable_users(user_ids, user_edges) -%}
reachable_users (user_id, reachable_user_id) as (

    select user_id, user_id as reachable_user_id from {{ user_ids }}
    union
    select
        reachable_users.user_id,
        {{ user_edges }}.linked_user_id as reachable_user_id
    from reachable_users
    inner join {{ user_edges }}
        on reachable_users.reachable_user_id = {{ user_edges }}.user_id

)
{%- endmacro %}

{#
    Spark: UNION ALL only, so the recursion walks simple paths (a user never revisited on a
    path) from the users that have alias edges; the union afterwards removes duplicates.
#}
{% macro spark__reachable_users(user_ids, user_edges) -%}
user_paths (user_id, reachable_user_id, visited) as (

    select distinct user_id, user_id as reachable_user_id, array(user_id) as visited
    from {{ user_edges }}
    union all
    select
        user_paths.user_id,
        {{ user_edges }}.linked_user_id as reachable_user_id,
        array_append(user_paths.visited, {{ user_edges }}.linked_user_id) as visited
    from user_paths
    inner join {{ user_edges }}
        on user_paths.reachable_user_id = {{ user_edges }}.user_id
    where not array_contains(user_paths.visited, {{ user_edges }}.linked_user_id)

),

reachable_users as (

    select user_id, user_id as reachable_user_id from {{ user_ids }}
    union
    select user_id, reachable_user_id from user_paths

)
{%- endmacro %}


{% macro json_array_position(json_text, value) -%}
    {{ return(adapter.dispatch('json_array_position', 'journeymap')(json_text, value)) }}
{%- endmacro %}

{% macro default__json_array_position(json_text, value) -%}
    nullif(array_position(from_json({{ json_text }}, 'array<string>'), {{ value }}), 0)
{%- endmacro %}

{% macro duckdb__json_array_position(json_text, value) -%}
    list_position(json_transform({{ json_text }}, '["VARCHAR"]'), {{ value }})
{%- endmacro %}


{#
    DuckDB materializes a CTE that a query reads more than once, every column of it, before
    the readers start; inlined, each read scans only the columns it needs, which is cheaper
    for a wide table read twice. Spark has no such hint.
#}
{% macro not_materialized() -%}
    {{ return(adapter.dispatch('not_materialized')()) }}
{%- endmacro %}

{% macro default__not_materialized() -%}
{%- endmacro %}

{% macro duckdb__not_materialized() -%}
    not materialized
{%- endmacro %}
