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
        source_loc

    from ranked
    where copy_number = 1

)

select * from final
