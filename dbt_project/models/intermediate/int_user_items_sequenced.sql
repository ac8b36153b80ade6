{#- Each user's distinct items in the order first met:
    the sequence that models learn from. -#}
with

events as (

    select * from {{ ref('stg_landing__events') }}

),

per_pair as (

    select
        user_id,
        item_id,
        min(event_ts) as first_event_at,
        count(*) as n_events,
        max({{ event_weight('event_type', 'rating') }}) as strongest_weight

    from events
    where item_id is not null
    group by user_id, item_id

),

final as (

    select
        *,
        row_number() over (
            partition by user_id order by first_event_at, item_id
        ) as seq_pos,
        count(*) over (partition by user_id) as n_items

    from per_pair

)

select * from final
