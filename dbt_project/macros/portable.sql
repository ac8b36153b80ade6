{#- SQL that differs between warehouses lives here, one default and per-adapter
    overrides; models call only these macros. -#}

{#- Seconds from timestamp `start_ts` to `end_ts`, as a double. -#}
{% macro seconds_between(start_ts, end_ts) -%}
    {{ return(adapter.dispatch('seconds_between', 'recfusion')(start_ts, end_ts)) }}
{%- endmacro %}

{% macro default__seconds_between(start_ts, end_ts) -%}
    cast(unix_timestamp({{ end_ts }}) - unix_timestamp({{ start_ts }}) as double)
{%- endmacro %}

{% macro duckdb__seconds_between(start_ts, end_ts) -%}
    cast(epoch({{ end_ts }}) - epoch({{ start_ts }}) as double)
{%- endmacro %}

{#- An ordered list of `expr`, ordered by `order_by`. -#}
{% macro ordered_list(expr, order_by) -%}
    {{ return(adapter.dispatch('ordered_list', 'recfusion')(expr, order_by)) }}
{%- endmacro %}

{% macro default__ordered_list(expr, order_by) -%}
    array_agg({{ expr }} order by {{ order_by }})
{%- endmacro %}

{% macro duckdb__ordered_list(expr, order_by) -%}
    list({{ expr }} order by {{ order_by }})
{%- endmacro %}
