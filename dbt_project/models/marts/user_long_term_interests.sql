{#- Time-decayed affinity per user and category,
    as of the user's last event. -#}
with

events as (

    select * from {{ ref('stg_landing__events') }}

),

items as (

    select * from {{ ref('stg_landing__items') }}

),

aged as (

    select
        events.user_id,
        items.category,
        {{ event_weight('events.event_type', 'events.rating') }} as weight,
        {{ seconds_between(
            'events.event_ts',
            'max(events.event_ts) over (partition by events.user_id)'
        ) }} / 86400.0 as age_days

    from events
    inner join items on events.item_id = items.item_id

),

per_category as (

    select
        user_id,
        category,
        count(*) as n_events,
        sum(
            weight * {{ decay_weight('age_days', var('half_life_days')) }}
        ) as affinity,
        sum(
            weight * {{ alpha_weight('age_days', var('alpha_k')) }}
        ) as alpha_affinity,
        min(age_days) as days_since_last

    from aged
    group by user_id, category

),

final as (

    select
        *,
        affinity / nullif(sum(affinity) over (partition by user_id), 0)
            as affinity_share,
        row_number() over (
            partition by user_id order by affinity desc, category asc
        ) as category_rank

    from per_category

)

select * from final
