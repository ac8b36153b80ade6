{#- SQL that differs between warehouses lives here: a default implementation and
    per-adapter overrides, reached through adapter.dispatch. Models call only
    these macros, so a new adapter needs only its overrides (Spark has them). -#}

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

{#- unix_timestamp drops the fraction of a second: microseconds instead, as
    DuckDB's epoch() has them. -#}
{% macro spark__seconds_between(start_ts, end_ts) -%}
    ({{ spark__epoch_seconds(end_ts) }} - {{ spark__epoch_seconds(start_ts) }})
{%- endmacro %}

{#- Days from `start_ts` to `end_ts`, fractional, as a double. The cast matters:
    `x / 86400.0` is a double on DuckDB but a decimal on Spark. -#}
{% macro days_between(start_ts, end_ts) -%}
    cast({{ seconds_between(start_ts, end_ts) }} / 86400.0 as double)
{%- endmacro %}

{#- Seconds since 1970-01-01 UTC, as a double. -#}
{% macro epoch_seconds(ts) -%}
    {{ return(adapter.dispatch('epoch_seconds', 'recfusion')(ts)) }}
{%- endmacro %}

{% macro default__epoch_seconds(ts) -%}
    cast(unix_timestamp({{ ts }}) as double)
{%- endmacro %}

{% macro duckdb__epoch_seconds(ts) -%}
    cast(epoch({{ ts }}) as double)
{%- endmacro %}

{% macro spark__epoch_seconds(ts) -%}
    (cast(unix_micros({{ ts }}) as double) / 1e6)
{%- endmacro %}

{#- The date `n` days after `day` (n may be negative). -#}
{% macro add_days(day, n) -%}
    {{ return(adapter.dispatch('add_days', 'recfusion')(day, n)) }}
{%- endmacro %}

{% macro default__add_days(day, n) -%}
    date_add({{ day }}, {{ n }})
{%- endmacro %}

{% macro duckdb__add_days(day, n) -%}
    cast({{ day }} + to_days(cast({{ n }} as integer)) as date)
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

{#- Spark has no ordered aggregate into an array: collect (keys, value)
    structs, sort them with a comparator over the keys of `order_by` (a
    comma-separated list of expressions, each optionally asc or desc), keep
    the values. Keys must not be null; values may be. -#}
{% macro spark__ordered_list(expr, order_by) -%}
    {%- set keys = [] -%}
    {%- for part in order_by.split(',') -%}
        {%- set words = part.strip().split() -%}
        {%- set descending = words | length > 1
            and words[-1] | lower == 'desc' -%}
        {%- set key = words[:-1] | join(' ')
            if words | length > 1 and words[-1] | lower in ('asc', 'desc')
            else words | join(' ') -%}
        {%- do keys.append((key, descending)) -%}
    {%- endfor -%}
    transform(
        array_sort(
            collect_list(struct(
                {%- for key, _ in keys %}
                {{ key }} as k{{ loop.index }},
                {%- endfor %}
                {{ expr }} as v
            )),
            (l, r) -> case
                {%- for _, descending in keys %}
                {%- set lt, gt = ('1', '-1') if descending else ('-1', '1') %}
                when l.k{{ loop.index }} < r.k{{ loop.index }} then {{ lt }}
                when l.k{{ loop.index }} > r.k{{ loop.index }} then {{ gt }}
                {%- endfor %}
                else 0
            end
        ),
        s -> s.v
    )
{%- endmacro %}

{#- A 64-bit hash of a row's columns: equal rows, equal hashes. Summed per day
    it fingerprints a day's rows for incremental change detection. -#}
{% macro row_hash(columns) -%}
    {{ return(adapter.dispatch('row_hash', 'recfusion')(columns)) }}
{%- endmacro %}

{% macro default__row_hash(columns) -%}
    hash({{ columns | join(', ') }})
{%- endmacro %}

{% macro spark__row_hash(columns) -%}
    xxhash64({{ columns | join(', ') }})
{%- endmacro %}

{#- The sum of row hashes, wide enough not to overflow. -#}
{% macro hash_sum(expr) -%}
    {{ return(adapter.dispatch('hash_sum', 'recfusion')(expr)) }}
{%- endmacro %}

{% macro default__hash_sum(expr) -%}
    sum(cast({{ expr }} as decimal(38, 0)))
{%- endmacro %}

{% macro duckdb__hash_sum(expr) -%}
    sum({{ expr }})
{%- endmacro %}
