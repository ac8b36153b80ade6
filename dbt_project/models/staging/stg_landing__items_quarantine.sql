{#- Catalogue rows set aside in staging: later copies of an item_id. -#}
with

items as (

    select * from {{ source('landing', 'items') }}

),

ranked as (

    select
        *,
        row_number() over (
            partition by item_id order by source_loc
        ) as copy_number

    from items

),

final as (

    select
        item_id,
        title,
        source_loc,
        'duplicate_item_id' as reason

    from ranked
    where copy_number > 1

)

select * from final
