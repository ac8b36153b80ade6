{#- Time-decayed affinity per user and category, as of the as_of moment:
    the sum of the user's item affinities in the category. -#}
with

user_items as (

    select * from {{ ref('int_user_items_aggregated') }}

),

point_in_time as (

    select {{ as_of_timestamp() }} as as_of

),

per_category as (

    select
        user_id,
        category,
        cast(sum(n_events) as bigint) as n_events,
        sum(affinity) as affinity,
        sum(alpha_affinity) as alpha_affinity,
        min(days_since_last) as days_since_last,
        max(last_event_at) as last_event_at

    from user_items
    group by user_id, category

),

final as (

    select
        per_category.user_id,
        per_category.category,
        per_category.n_events,
        per_category.affinity,
        per_category.alpha_affinity,
        per_category.days_since_last,
        per_category.affinity
        / nullif(
            sum(per_category.affinity) over (
                partition by per_category.user_id
            ),
            0
        ) as affinity_share,
        row_number() over (
            partition by per_category.user_id
            order by per_category.affinity desc, per_category.category asc
        ) as category_rank,
        per_category.alpha_affinity
        / nullif(
            sum(per_category.alpha_affinity) over (
                partition by per_category.user_id
            ),
            0
        ) as alpha_affinity_share,
        per_category.last_event_at,
        point_in_time.as_of

    from per_category
    cross join point_in_time

)

select * from final
