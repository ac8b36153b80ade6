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

{#- Per-user incremental tables. The marts at user grain (a user's items,
    splits, training examples, last events) depend on that user's events
    alone, so a run rebuilds the users with events staged since the table's
    last build, from their whole history, and replaces their rows. Every row
    carries built_at (the run that wrote it) and build_signature (the vars
    its values depend on): when the vars differ from the table's, the run
    rebuilds every user. -#}

{#- The config that makes a model replace whole users, materialization
    included (a model sets no `materialized` of its own). -#}
{% macro user_partitioned() -%}
    {{ return(adapter.dispatch('user_partitioned', 'recfusion')()) }}
{%- endmacro %}

{#- DuckDB and most warehouses: delete the rebuilt users' rows, insert them
    again. The pre-hook empties the table when every user is rebuilt, so
    that users who are no longer in the data go too. -#}
{% macro default__user_partitioned() -%}
    {{ return({
        'materialized': 'incremental',
        'incremental_strategy': 'delete+insert',
        'unique_key': 'user_id',
        'pre_hook': "{{ clear_for_rebuild() }}",
    }) }}
{%- endmacro %}

{#- Spark: dbt-spark has no delete+insert, and on parquet no merge either;
    insert_overwrite replaces partitions, and a partition per user is far
    too many. So these models are plain tables on Spark, rebuilt whole on
    every run: correct (every user is rebuilt, as in a full build: not
    incremental in work), and is_incremental() is false, so the macros
    below select every user. -#}
{% macro spark__user_partitioned() -%}
    {{ return({
        'materialized': 'table',
        'file_format': 'parquet',
    }) }}
{%- endmacro %}

{#- The vars the user-grain tables' values depend on, hashed into one string
    stored in every row. -#}
{% macro build_signature() -%}
    {%- set names = [
        'as_of', 'half_life_days', 'event_weights', 'rating_scale',
        'short_term_n', 'session_gap_minutes',
    ] -%}
    {%- set parts = [] -%}
    {%- for name in names -%}
        {%- do parts.append(name ~ '=' ~ (var(name, none) | string)) -%}
    {%- endfor -%}
    {{ return(local_md5(parts | join(';'))) }}
{%- endmacro %}

{#- What this model's table holds: the time of its last build and whether its
    rows were built with this run's vars. Looked up once per compile. -#}
{% macro user_table_state() -%}
    {%- if not execute or not is_incremental() -%}
        {{ return({'rebuild_all': true, 'last_built': none}) }}
    {%- endif -%}
    {%- set query -%}
        select
            cast(max(built_at) as {{ dbt.type_string() }}) as last_built,
            count(
                case
                    when build_signature != '{{ build_signature() }}' then 1
                end
            ) as n_stale
        from {{ this }}
    {%- endset -%}
    {%- set row = run_query(query).rows[0] -%}
    {{ return({
        'rebuild_all': row[0] is none or row[1] > 0,
        'last_built': row[0],
    }) }}
{%- endmacro %}

{#- A condition true for the users this run rebuilds: all of them in a full
    build or when the vars changed, else those with event rows that changed
    after the table's last build (changed_at: new loads, late events, copies
    that became replays, items that joined or left the catalogue,
    backfilled days). The model needs the hint
    `-- depends_on: {{ ref('stg_landing__events_flagged') }}`. -#}
{% macro in_rebuilt_users(user_column) -%}
    {%- set state = user_table_state() -%}
    {%- if state.rebuild_all -%}
        1 = 1
    {%- else -%}
        {{ user_column }} in (
            select flagged.user_id
            from {{ ref('stg_landing__events_flagged') }} as flagged
            where
                flagged.changed_at
                > cast('{{ state.last_built }}' as timestamp)
        )
    {%- endif -%}
{%- endmacro %}

{#- The same for a large relation, as a join (DuckDB filters a join with
    the few rebuilt users far sooner than an IN list): renders
    `inner join (...) as rebuilt_users on <alias>.user_id = ...`, or nothing
    when every user is rebuilt. Select `<alias>.*` after it. -#}
{% macro join_rebuilt_users(alias) -%}
    {%- set state = user_table_state() -%}
    {%- if not state.rebuild_all -%}
        inner join (
            select distinct flagged.user_id
            from {{ ref('stg_landing__events_flagged') }} as flagged
            where
                flagged.changed_at
                > cast('{{ state.last_built }}' as timestamp)
        ) as rebuilt_users
            on {{ alias }}.user_id = rebuilt_users.user_id
    {%- endif -%}
{%- endmacro %}

{#- The users an incremental run rebuilds, each with changed_from, the time
    of their earliest changed event row (only when not every user is
    rebuilt). -#}
{% macro rebuilt_users_since() -%}
    select
        flagged.user_id,
        min(flagged.event_ts) as changed_from
    from {{ ref('stg_landing__events_flagged') }} as flagged
    where
        flagged.changed_at
        > cast('{{ user_table_state().last_built }}' as timestamp)
    group by flagged.user_id
{%- endmacro %}

{#- Pre-hook: empty the table before a run that rebuilds every user. -#}
{% macro clear_for_rebuild() -%}
    {%- if execute and is_incremental() and user_table_state().rebuild_all -%}
        delete from {{ this }}
    {%- else -%}
        select 1 as nothing_to_clear
    {%- endif -%}
{%- endmacro %}

{#- The bookkeeping columns of a user-grain table. -#}
{% macro user_build_columns() -%}
    '{{ build_signature() }}' as build_signature,
    {{ batch_timestamp() }} as built_at
{%- endmacro %}

{#- Events up to the var as_of; all of them when it is not set (the marts are
    then as of the latest event). -#}
{% macro up_to_as_of(ts_column) -%}
    {%- set as_of = var('as_of', none) -%}
    {%- if as_of is none or as_of | string | trim == '' -%}
        1 = 1
    {%- else -%}
        {{ ts_column }} <= {{ as_of_timestamp() }}
    {%- endif -%}
{%- endmacro %}
