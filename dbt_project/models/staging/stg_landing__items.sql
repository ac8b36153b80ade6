with

flagged as (

    select * from {{ ref('stg_landing__items_flagged') }}

),

final as (

    select
        item_id,
        title,
        description,
        category,
        source_loc

    from flagged
    where reason is null

)

select * from final
