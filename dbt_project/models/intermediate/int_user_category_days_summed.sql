{#- Interest events summed per user, category and day: the daily aggregate
    that dashboards and the recency windows read instead of every event. -#}
{{ config(
    materialized='incremental',
    on_schema_change='fail',
    **day_partitioned('event_date')
) }}

-- depends_on: {{ ref('stg_landing__events_flagged') }}

with

events as (

    select * from {{ ref('int_events_weighted') }}

),

final as (

    select
        user_id,
        category,
        event_date,
        count(*) as n_events,
        sum(weight) as total_weight,
        min(event_ts) as first_event_at,
        max(event_ts) as last_event_at,
        max(staged_at) as staged_at

    from events
    where {{ in_changed_days('event_date') }}
    group by user_id, category, event_date

)

select * from final
