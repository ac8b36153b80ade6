{#- Nothing is lost in staging: landed rows = clean rows + quarantined rows. -#}
with

landed as (

    select count(*) as n from {{ source('landing', 'events') }}

),

clean as (

    select count(*) as n from {{ ref('stg_landing__events') }}

),

quarantined as (

    select count(*) as n from {{ ref('stg_landing__events_quarantine') }}

),

final as (

    select
        landed.n as landed,
        clean.n as clean,
        quarantined.n as quarantined

    from landed, clean, quarantined
    where landed.n != clean.n + quarantined.n

)

select * from final
