{#- Every landed event with the reason it cannot be used,
    or null when it can. -#}
with

events as (

    select * from {{ source('landing', 'events') }}

),

items as (

    select * from {{ ref('stg_landing__items') }}

),

numbered as (

    select
        events.*,
        items.item_id is not null as item_known,
        row_number() over (
            partition by events.event_id
            order by events.event_ts, events.source_loc
        ) as copy_number

    from events
    left join items on events.item_id = items.item_id

),

final as (

    select
        event_id,
        user_id,
        item_id,
        event_type,
        event_ts,
        rating,
        query,
        source_loc,
        case
            when copy_number > 1 then 'duplicate_event_id'
            when item_id is not null and not item_known then 'unknown_item'
        end as reason

    from numbered

)

select * from final
