{#- Time-decayed affinity per user and item, as of the as_of moment. -#}
with

user_items as (

    select * from {{ ref('int_user_items_aggregated') }}

),

final as (

    select
        user_id,
        item_id,
        category,
        n_events,
        affinity,
        alpha_affinity,
        days_since_last,
        last_event_at,
        affinity / nullif(sum(affinity) over (partition by user_id), 0)
            as affinity_share,
        row_number() over (
            partition by user_id order by affinity desc, item_id asc
        ) as item_rank

    from user_items

)

select * from final
