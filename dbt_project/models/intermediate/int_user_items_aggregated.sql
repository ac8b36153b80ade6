{#- Each user's interest events per item, as of the as_of moment: when first
    and last met, how strongly, and the time-decayed and alpha(t) affinities.
    The long-term marts and the item sequence all read this one pass (an
    item has one category, so min(category) is that category). -#}
with

events as (

    select * from {{ ref('int_events_weighted') }}

),

point_in_time as (

    select {{ as_of_timestamp() }} as as_of

),

aged as (

    select
        events.user_id,
        events.item_id,
        events.category,
        events.event_ts,
        events.weight,
        {{ days_between('events.event_ts', 'point_in_time.as_of') }}
            as age_days

    from events
    cross join point_in_time
    where events.event_ts <= point_in_time.as_of

),

final as (

    select
        user_id,
        item_id,
        min(category) as category,
        min(event_ts) as first_event_at,
        max(event_ts) as last_event_at,
        count(*) as n_events,
        max(weight) as strongest_weight,
        sum(weight) as total_weight,
        sum(
            weight * {{ decay_weight('age_days', var('half_life_days')) }}
        ) as affinity,
        sum(
            weight * {{ alpha_weight('age_days', var('alpha_k')) }}
        ) as alpha_affinity,
        min(age_days) as days_since_last

    from aged
    group by user_id, item_id

)

select * from final
