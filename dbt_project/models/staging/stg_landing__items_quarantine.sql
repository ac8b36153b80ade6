{#- Catalogue rows set aside in staging: later copies of an item_id. -#}
with

flagged as (

    select * from {{ ref('stg_landing__items_flagged') }}

),

final as (

    select
        item_id,
        title,
        source_loc,
        reason

    from flagged
    where reason is not null

)

select * from final
