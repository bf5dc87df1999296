{% macro register_raw_sources() -%}
    {{ return(adapter.dispatch('register_raw_sources', 'journeymap')()) }}
{%- endmacro %}

{% macro default__register_raw_sources() -%}
{%- endmacro %}

{#
    Every source table as an external Parquet table over JOURNEYMAP_SPARK_RAW/<table>, where
    pipelines/spark.py exports raw.* from DuckDB. Re-created on every run, so a new export
    (or a changed column) is what dbt reads; dropping an external table keeps its files.
#}
{% macro spark__register_raw_sources() -%}
    {%- if execute -%}
        {%- set spark_dir = env_var('JOURNEYMAP_SPARK_DIR', env_var('JOURNEYMAP_HOME', '.journeymap') ~ '/spark') -%}
        {%- set folder = env_var('JOURNEYMAP_SPARK_RAW', spark_dir ~ '/raw') -%}
        {%- for source in graph.sources.values() | sort(attribute='unique_id') -%}
            {%- set relation = source.schema ~ '.' ~ source.identifier -%}
            {%- do run_query('create schema if not exists ' ~ source.schema) -%}
            {%- do run_query('drop table if exists ' ~ relation) -%}
            {%- do run_query(
                'create table ' ~ relation ~ ' using parquet location '
                ~ dbt.string_literal(folder ~ '/' ~ source.identifier)
            ) -%}
        {%- endfor -%}
    {%- endif -%}
{%- endmacro %}
