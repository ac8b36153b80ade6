{#- Every landed catalogue row with the reason it cannot be used (or null):
    of the copies of an item_id the first by source location counts, the
    later ones are duplicate_item_id. stg_landing__items and
    stg_landing__items_quarantine split this one ranking. -#}
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
        description,
        category,
        source_loc,
        case when copy_number > 1 then 'duplicate_item_id' end as reason

    from ranked

)

select * from final
