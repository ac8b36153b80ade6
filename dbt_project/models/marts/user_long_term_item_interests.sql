{#- Time-decayed and alpha(t) affinity per user and item, as of the as_of
    moment, and the item's share of the user's total. A view, so that the
    daily build writes none of its rows: the decayed affinity is
    int_user_items_aggregated's affinity_at_last aged to as_of (one
    multiplication per row); alpha(t) does not factor and an item's events
    rarely share a day, so alpha_affinity is summed over the events when the
    view is read. -#}
{{ config(materialized='view') }}

with

user_items as (

    select * from {{ ref('int_user_items_aggregated') }}

),

events as (

    select * from {{ ref('int_events_weighted') }}

),

point_in_time as (

    select {{ as_of_timestamp() }} as as_of

),

alpha_sums as (

    select
        events.user_id,
        events.item_id,
        sum(
            events.weight * {{ alpha_weight(
                days_between('events.event_ts', 'point_in_time.as_of'),
                var('alpha_k')
            ) }}
        ) as alpha_affinity

    from events
    cross join point_in_time
    where events.event_ts <= point_in_time.as_of
    group by events.user_id, events.item_id

),

aged as (

    select
        user_items.user_id,
        user_items.item_id,
        user_items.category,
        user_items.n_events,
        user_items.affinity_at_last * {{ decay_weight(
            days_between('user_items.last_event_at', 'point_in_time.as_of'),
            var('half_life_days')
        ) }} as affinity,
        alpha_sums.alpha_affinity,
        {{ days_between('user_items.last_event_at', 'point_in_time.as_of') }}
            as days_since_last,
        user_items.last_event_at

    from user_items
    cross join point_in_time
    inner join alpha_sums
        on
            user_items.user_id = alpha_sums.user_id
            and user_items.item_id = alpha_sums.item_id

),

final as (

    select
        user_id,
        item_id,
        category,
        n_events,
        affinity,
        alpha_affinity,
        days_since_last,
        last_event_at,
        affinity / nullif(sum(affinity) over (partition by user_id), 0)
            as affinity_share,
        alpha_affinity
        / nullif(sum(alpha_affinity) over (partition by user_id), 0)
            as alpha_affinity_share

    from aged

)

select * from final
