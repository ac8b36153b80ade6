{#- Nothing is lost, load by load. Landing: every load's raw rows = landed +
    quarantined rows. Staging: every landed row of a load still in raw.events
    is in staging exactly once, clean or quarantined, and staging holds no
    other rows. A row is known by its event_id and source location. -#}
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

landed_rows as (

    select
        load_id,
        {{ row_hash(['event_id', 'source_loc']) }} as row_key,
        count(*) as n_landed

    from landed
    group by load_id, {{ row_hash(['event_id', 'source_loc']) }}

),

staged_rows as (

    select
        row_key,
        sum(is_clean) as n_clean,
        sum(1 - is_clean) as n_quarantined

    from (
        select
            {{ row_hash(['event_id', 'source_loc']) }} as row_key,
            1 as is_clean
        from clean
        union all
        select
            {{ row_hash(['event_id', 'source_loc']) }} as row_key,
            0 as is_clean
        from quarantined
    ) as staged
    group by row_key

),

per_load as (

    select
        landed_rows.load_id,
        sum(landed_rows.n_landed) as landed,
        sum(coalesce(staged_rows.n_clean, 0)) as clean,
        sum(coalesce(staged_rows.n_quarantined, 0)) as quarantined

    from landed_rows
    left join staged_rows on landed_rows.row_key = staged_rows.row_key
    group by landed_rows.load_id

),

failures as (

    select
        'landing: raw != landed + quarantined' as check_name,
        load_id,
        raw_events as expected,
        landed_events + quarantined_events as actual

    from loads
    where raw_events != landed_events + quarantined_events

    union all

    select
        'raw.events rows of the load != loads.landed_events' as check_name,
        per_load.load_id,
        loads.landed_events as expected,
        per_load.landed as actual

    from per_load
    left join loads on per_load.load_id = loads.load_id
    where loads.landed_events is null or loads.landed_events != per_load.landed

    union all

    select
        'staging: landed != clean + quarantined' as check_name,
        load_id,
        landed as expected,
        clean + quarantined as actual

    from per_load
    where landed != clean + quarantined

    union all

    select
        'staging holds rows that were not landed' as check_name,
        cast(null as varchar) as load_id,
        (select count(*) from landed) as expected,
        (select count(*) from clean) + (select count(*) from quarantined)
            as actual

    where
        (select count(*) from landed)
        != (select count(*) from clean) + (select count(*) from quarantined)

),

final as (

    select * from failures

)

select * from final
