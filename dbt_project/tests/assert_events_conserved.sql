{#- Nothing is lost, load by load. Landing: each load's raw rows = landed +
    quarantined rows, and its landed rows are in raw.events. Staging: the
    landed rows (by event_id and source location) are exactly the clean and
    quarantined rows, each once, so every load in raw.events is split
    without loss. The two row sets are compared by count and by two
    independent sums of 64-bit row hashes: a multiset fingerprint, one pass
    over each side instead of a join of ten million keys. The staging check
    covers the days staged by the latest run (every day after a full
    build; the var test_all_rows: every day always): the other days have
    not changed since the run that checked them. -#}
{%- set key = ['event_id', 'source_loc'] %}
{%- set salted_key = ['event_id', 'source_loc', "'salt'"] %}

with

loads as (

    select * from {{ source('landing', 'loads') }}

),

landed as (

    select * from {{ source('landing', 'events') }}

),

clean as (

    select * from {{ ref('stg_landing__events') }}

),

quarantined as (

    select * from {{ ref('stg_landing__events_quarantine') }}

),

flagged as (

    select * from {{ ref('stg_landing__events_flagged') }}

),

checked_days as (

    select distinct flagged.event_date
    from flagged
    {%- if not var('test_all_rows', false) %}
    where
        flagged.staged_at
        = (select max(latest.staged_at) from flagged as latest)
    {%- endif %}

),

staged as (

    select
        event_id,
        source_loc
    from clean
    where event_date in (select checked_days.event_date from checked_days)

    union all

    select
        event_id,
        source_loc
    from quarantined
    where event_date in (select checked_days.event_date from checked_days)

),

landed_per_load as (

    select
        load_id,
        count(*) as n_rows

    from landed
    group by load_id

),

landed_fingerprint as (

    select
        count(*) as n_rows,
        {{ hash_sum(row_hash(key)) }} as hash_sum,
        {{ hash_sum(row_hash(salted_key)) }} as salted_hash_sum

    from landed
    where
        cast(event_ts as date)
        in (select checked_days.event_date from checked_days)

),

staged_fingerprint as (

    select
        count(*) as n_rows,
        {{ hash_sum(row_hash(key)) }} as hash_sum,
        {{ hash_sum(row_hash(salted_key)) }} as salted_hash_sum

    from staged

),

failures as (

    select
        'landing: raw rows != landed + quarantined' as check_name,
        load_id,
        raw_events as expected,
        landed_events + quarantined_events as actual

    from loads
    where raw_events != landed_events + quarantined_events

    union all

    select
        'raw.events rows of the load != its landed_events' as check_name,
        landed_per_load.load_id,
        loads.landed_events as expected,
        landed_per_load.n_rows as actual

    from landed_per_load
    left join loads on landed_per_load.load_id = loads.load_id
    where
        loads.landed_events is null
        or loads.landed_events != landed_per_load.n_rows

    union all

    select
        'staging: landed rows != clean + quarantined rows' as check_name,
        cast(null as {{ dbt.type_string() }}) as load_id,
        landed_fingerprint.n_rows as expected,
        staged_fingerprint.n_rows as actual

    from landed_fingerprint
    cross join staged_fingerprint
    where
        landed_fingerprint.n_rows != staged_fingerprint.n_rows
        or landed_fingerprint.hash_sum != staged_fingerprint.hash_sum
        or landed_fingerprint.salted_hash_sum
        != staged_fingerprint.salted_hash_sum

),

final as (

    select * from failures

)

select * from final
