with

items as (

    select * from {{ ref('stg_landing__items') }}

),

user_items as (

    select * from {{ ref('int_user_items_aggregated') }}

),

popularity as (

    select
        item_id,
        count(*) as n_users

    from user_items
    group by item_id

),

final as (

    select
        items.item_id,
        items.title,
        items.description,
        items.category,
        trim(items.title || '. ' || items.description) as item_text,
        coalesce(popularity.n_users, 0) as n_users

    from items
    left join popularity on items.item_id = popularity.item_id

)

select * from final
