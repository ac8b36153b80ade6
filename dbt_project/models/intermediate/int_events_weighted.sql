{#- Usable events that show interest in a known item, with the item's
    category and the event's weight. Impressions record what was shown, not
    what the user chose, so they are left out; searches name no item. -#}
{{ config(materialized='view') }}

with

events as (

    select * from {{ ref('stg_landing__events') }}

),

items as (

    select * from {{ ref('stg_landing__items') }}

),

final as (

    select
        events.event_id,
        events.user_id,
        events.item_id,
        items.category,
        events.event_type,
        events.event_ts,
        events.event_date,
        events.rating,
        {{ event_weight('events.event_type', 'events.rating') }} as weight,
        events.staged_at

    from events
    inner join items on events.item_id = items.item_id
    where events.event_type != 'impression'

)

select * from final
