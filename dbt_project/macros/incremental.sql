{#- Incremental tables here are rebuilt a whole day at a time: a run works out
    which days changed, recomputes every row of those days and replaces them.
    That maps onto each warehouse's own way of replacing partitions. -#}

{#- The config that makes a model replace whole days of `day_column`. -#}
{% macro day_partitioned(day_column) -%}
    {{ return(adapter.dispatch('day_partitioned', 'recfusion')(day_column)) }}
{%- endmacro %}

{#- DuckDB and most warehouses: delete the changed days, insert them again. -#}
{% macro default__day_partitioned(day_column) -%}
    {{ return({
        'incremental_strategy': 'delete+insert',
        'unique_key': day_column,
    }) }}
{%- endmacro %}

{#- Spark: overwrite the partitions of the changed days. -#}
{% macro spark__day_partitioned(day_column) -%}
    {{ return({
        'incremental_strategy': 'insert_overwrite',
        'partition_by': [day_column],
        'file_format': 'parquet',
    }) }}
{%- endmacro %}

{#- When this run started, as a timestamp: every row a run writes carries it
    (staged_at), so the models downstream can find what changed. -#}
{% macro batch_timestamp() -%}
    cast('{{ run_started_at.strftime("%Y-%m-%d %H:%M:%S.%f") }}' as timestamp)
{%- endmacro %}

{#- True for days inside the backfill range given by the vars backfill_start
    and backfill_end (dates, both included); false when no range is given. -#}
{% macro in_backfill_range(day) -%}
    {%- set start = var('backfill_start', none) -%}
    {%- set end = var('backfill_end', none) -%}
    {%- if start and end -%}
        {{ day }} between cast('{{ start }}' as date) and cast('{{ end }}' as date)
    {%- elif start or end -%}
        {{ exceptions.raise_compiler_error(
            "set both backfill_start and backfill_end (dates), got "
            ~ start ~ " and " ~ end
        ) }}
    {%- else -%}
        1 = 0
    {%- endif -%}
{%- endmacro %}

{#- A condition true for the rows an incremental run of a downstream model must
    rebuild: those of the days staging rewrote after this model's last run,
    and of the backfill range. Always true in a full build. The days are
    looked up when the model compiles and written into the SQL as literals,
    so that the warehouse can skip the row groups of other days. The model
    needs the hint `-- depends_on: {{ ref('stg_landing__events_flagged') }}`. -#}
{% macro in_changed_days(day) -%}
    {%- if not is_incremental() -%}
        1 = 1
    {%- else -%}
        {%- set days = changed_days() -%}
        {%- if days | length == 0 -%}
            1 = 0
        {%- else -%}
            {{ day }} in (
                {%- for d in days %}
                cast('{{ d }}' as date){{ "," if not loop.last }}
                {%- endfor %}
            )
        {%- endif -%}
    {%- endif -%}
{%- endmacro %}

{#- The days (as 'YYYY-MM-DD' strings) staging rewrote after this model's
    last run, and the days of the backfill range. -#}
{% macro changed_days() -%}
    {%- if not execute -%}
        {{ return([]) }}
    {%- endif -%}
    {%- set query -%}
        select distinct cast(event_date as {{ dbt.type_string() }}) as day
        from {{ ref('stg_landing__events_flagged') }}
        where
            staged_at > (
                select coalesce(max(staged_at), cast('1900-01-01' as timestamp))
                from {{ this }}
            )
            or {{ in_backfill_range('event_date') }}
        order by day
    {%- endset -%}
    {{ return(run_query(query).columns[0].values() | list) }}
{%- endmacro %}
