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
        event_date,
        source_loc,
        load_id,
        row_hash,
        reason,
        staged_at

    from flagged
    where reason is not null

)

select * from final
