{#- Hooks for running the project where the sources are not in the warehouse
    already: a local Spark reads the landed raw tables from parquet files that
    recfusion exports from DuckDB (recfusion.spark). Both are no-ops unless
    their var is set, and on adapters without an implementation. -#}

{#- on-run-start: make each table of var spark_sources ({path, tables}) a
    table over the parquet files in <path>/<schema>/<name>. Run before every
    build, so a new export is read afresh. -#}
{% macro register_parquet_sources() -%}
    {{ return(adapter.dispatch('register_parquet_sources', 'recfusion')()) }}
{%- endmacro %}

{% macro default__register_parquet_sources() -%}
    {{ return('') }}
{%- endmacro %}

{% macro spark__register_parquet_sources() -%}
    {%- set sources = var('spark_sources', none) -%}
    {%- if execute and sources -%}
        {%- for table in sources['tables'] -%}
            {%- set schema, name = table.split('.') -%}
            {%- do run_query('create database if not exists ' ~ schema) -%}
            {%- do run_query('drop table if exists ' ~ table) -%}
            {%- do run_query(
                'create table ' ~ table ~ ' using parquet location '
                ~ "'" ~ sources['path'] ~ '/' ~ schema ~ '/' ~ name ~ "'"
            ) -%}
        {%- endfor -%}
    {%- endif -%}
    {{ return('') }}
{%- endmacro %}

{#- on-run-end: write every mart (tables and views alike) as parquet files to
    <var export_dir>/<name>, to compare them with another warehouse's marts
    without a second connection. -#}
{% macro export_marts() -%}
    {{ return(adapter.dispatch('export_marts', 'recfusion')()) }}
{%- endmacro %}

{% macro default__export_marts() -%}
    {{ return('') }}
{%- endmacro %}

{% macro spark__export_marts() -%}
    {%- set export_dir = var('export_dir', none) -%}
    {%- if execute and export_dir -%}
        {%- for node in graph.nodes.values()
            if node.resource_type == 'model' and node.fqn[1] == 'marts' -%}
            {%- set relation = adapter.get_relation(
                database=node.database,
                schema=node.schema,
                identifier=node.alias
            ) -%}
            {%- if relation is not none -%}
                {%- do run_query(
                    "insert overwrite directory '" ~ export_dir ~ '/'
                    ~ node.alias ~ "' using parquet select * from " ~ relation
                ) -%}
            {%- endif -%}
        {%- endfor -%}
    {%- endif -%}
    {{ return('') }}
{%- endmacro %}
