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

{#- The days of `upstream` that a downstream incremental model must rebuild:
    days whose rows staging wrote after this model's last run, and the days
    of the backfill range. Call it only inside is_incremental(). -#}
{% macro changed_days(upstream, day_column='event_date') -%}
    select distinct {{ day_column }} as changed_day
    from {{ upstream }}
    where
        staged_at > (
            select coalesce(max(staged_at), cast('1900-01-01' as timestamp))
            from {{ this }}
        )
        or {{ in_backfill_range(day_column) }}
{%- endmacro %}
