{#- Time-decayed affinity per user and item, as of the as_of moment, and the
    item's share of the user's total. A view: a projection of
    int_user_items_aggregated, not worth writing millions of rows again. -#}
{{ config(materialized='view') }}

with

user_items as (

    select * from {{ ref('int_user_items_aggregated') }}

),

user_totals as (

    select
        user_id,
        sum(affinity) as affinity,
        sum(alpha_affinity) as alpha_affinity

    from user_items
    group by user_id

),

final as (

    select
        user_items.user_id,
        user_items.item_id,
        user_items.category,
        user_items.n_events,
        user_items.affinity,
        user_items.alpha_affinity,
        user_items.days_since_last,
        user_items.last_event_at,
        user_items.affinity / nullif(user_totals.affinity, 0)
            as affinity_share,
        user_items.alpha_affinity / nullif(user_totals.alpha_affinity, 0)
            as alpha_affinity_share

    from user_items
    inner join user_totals on user_items.user_id = user_totals.user_id

)

select * from final
