{#- The moment the marts describe: the var as_of, or else the latest usable
    event. Events after it are ignored. A bare date (2025-03-01) means the end
    of that day, so that day's events count. -#}
{% macro as_of_timestamp() -%}
    {%- set as_of = var('as_of', none) -%}
    {%- if as_of is none or as_of | string | trim == '' -%}
        (select max(event_ts) from {{ ref('stg_landing__events') }})
    {%- else -%}
        {%- set text = as_of | string | trim -%}
        {%- if text | length == 10 -%}
            {%- set text = text ~ ' 23:59:59.999999' -%}
        {%- endif -%}
        cast('{{ text }}' as timestamp)
    {%- endif -%}
{%- endmacro %}
