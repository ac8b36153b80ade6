{#- Nothing is lost in staging: landed items = kept items + set-aside items. -#}
with

landed as (

    select count(*) as n from {{ source('landing', 'items') }}

),

kept as (

    select count(*) as n from {{ ref('stg_landing__items') }}

),

quarantined as (

    select count(*) as n from {{ ref('stg_landing__items_quarantine') }}

),

final as (

    select
        landed.n as landed,
        kept.n as kept,
        quarantined.n as quarantined

    from landed, kept, quarantined
    where landed.n != kept.n + quarantined.n

)

select * from final
