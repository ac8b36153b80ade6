{#- Each user's last short_term_n interest events up to the as_of moment,
    ranked from the latest (1) back. -#}
with

events as (

    select * from {{ ref('int_events_weighted') }}

),

point_in_time as (

    select {{ as_of_timestamp() }} as as_of

),

ranked as (

    select
        events.user_id,
        events.event_id,
        events.item_id,
        events.category,
        events.event_type,
        events.event_ts,
        events.weight,
        row_number() over (
            partition by events.user_id
            order by events.event_ts desc, events.event_id desc
        ) as recency_rank

    from events
    cross join point_in_time
    where events.event_ts <= point_in_time.as_of

),

final as (

    select * from ranked
    where recency_rank <= {{ var('short_term_n') }}

)

select * from final
