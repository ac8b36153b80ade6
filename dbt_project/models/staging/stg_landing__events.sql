with

flagged as (

    select * from {{ ref('stg_landing__events_flagged') }}

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
        source_loc

    from flagged
    where reason is null

)

select * from final
