{#- Each user's last N item events:
    the ordered items and their category mix. -#}
with

events as (

    select * from {{ ref('stg_landing__events') }}

),

items as (

    select * from {{ ref('stg_landing__items') }}

),

recent as (

    select
        events.user_id,
        events.item_id,
        events.event_ts,
        items.category,
        row_number() over (
            partition by events.user_id
            order by events.event_ts desc, events.event_id desc
        ) as recency_rank

    from events
    inner join items on events.item_id = items.item_id

),

windowed as (

    select * from recent
    where recency_rank <= {{ var('short_term_n') }}

),

category_counts as (

    select
        user_id,
        category,
        count(*) as n_events,
        row_number() over (
            partition by user_id order by count(*) desc, category asc
        ) as category_rank

    from windowed
    group by user_id, category

),

per_user as (

    select
        user_id,
        {{ ordered_list('item_id', 'event_ts, recency_rank desc') }}
            as recent_items,
        count(*) as n_events,
        min(event_ts) as window_started_at,
        max(event_ts) as last_event_at

    from windowed
    group by user_id

),

final as (

    select
        per_user.*,
        category_counts.category as top_category,
        category_counts.n_events * 1.0 / per_user.n_events
            as top_category_share

    from per_user
    inner join category_counts
        on
            per_user.user_id = category_counts.user_id
            and category_counts.category_rank = 1

)

select * from final
