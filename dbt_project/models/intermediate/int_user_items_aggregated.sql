{#- Each user's interest events per item, up to the var as_of (all events
    when it is not set): when first and last met, how strongly, and the
    time-decayed affinity at the last event (affinity_at_last; the affinity
    at a later moment T is affinity_at_last * 2^(-(T - last) / half-life),
    which the as-of marts apply). Incremental by user: a run rebuilds the
    users with newly staged events from their whole history (an item has
    one category, so min(category) is that category). -#}
{{ config(
    on_schema_change='fail',
    **user_partitioned()
) }}

-- depends_on: {{ ref('stg_landing__events_flagged') }}

with

events as (

    select events.*
    from {{ ref('int_events_weighted') }} as events
    {{ join_rebuilt_users('events') }}

),

scoped as (

    select
        user_id,
        item_id,
        category,
        event_ts,
        weight,
        max(event_ts) over (partition by user_id, item_id) as item_last_at

    from events
    where {{ up_to_as_of('event_ts') }}

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
            weight * {{ decay_weight(
                days_between('event_ts', 'item_last_at'),
                var('half_life_days')
            ) }}
        ) as affinity_at_last,
        {{ user_build_columns() }}

    from scoped
    group by user_id, item_id

)

select * from final
