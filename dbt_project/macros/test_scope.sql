{#- Data tests of an incremental run check the rows that run wrote. Every
    data test is configured (dbt_project.yml) with
    `where: rows_of_latest_build`: a test of a table or view whose rows
    carry built_at (user-grain tables) or staged_at (staged events and the
    day-grain tables) sees only the rows of the table's latest build; in a
    full build that is every row. The other rows were checked by the run that
    wrote them and no run has changed them since. Tables without either
    column are tested whole. The var test_all_rows (true) makes every test
    check every row. Any other `where` works as in dbt. -#}
{% macro get_where_subquery(relation) -%}
    {%- set where = config.get('where', '') -%}
    {%- if where == 'rows_of_latest_build' -%}
        {%- set column = build_column(relation) -%}
        {%- if column is none or var('test_all_rows', false) -%}
            {{ return(relation) }}
        {%- endif -%}
        {%- set filtered -%}
            (
                select * from {{ relation }}
                where
                    {{ column }}
                    = (select max({{ column }}) from {{ relation }})
            ) dbt_subquery
        {%- endset -%}
        {{ return(filtered) }}
    {%- elif where -%}
        {%- set filtered -%}
            (select * from {{ relation }} where {{ where }}) dbt_subquery
        {%- endset -%}
        {{ return(filtered) }}
    {%- else -%}
        {{ return(relation) }}
    {%- endif -%}
{%- endmacro %}

{#- built_at or staged_at, whichever the relation has (none if neither). -#}
{% macro build_column(relation) -%}
    {%- if not execute -%}
        {{ return(none) }}
    {%- endif -%}
    {%- set names = adapter.get_columns_in_relation(relation)
        | map(attribute='name') | map('lower') | list -%}
    {%- for column in ['built_at', 'staged_at'] -%}
        {%- if column in names -%}
            {{ return(column) }}
        {%- endif -%}
    {%- endfor -%}
    {{ return(none) }}
{%- endmacro %}
