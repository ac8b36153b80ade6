{#- Per user, as of the as_of moment: the last short_term_n interest events
    and the last session as ordered item sequences, their leading category,
    recency, and how far the short-term mix drifts from the long-term one.
    A view: only the seconds since the last event move with as_of; the rest
    is int_user_short_term_summarised, rebuilt per user. -#}
{{ config(materialized='view') }}

with

summarised as (

    select * from {{ ref('int_user_short_term_summarised') }}

),

point_in_time as (

    select {{ as_of_timestamp() }} as as_of

),

final as (

    select
        summarised.user_id,
        summarised.recent_items,
        summarised.n_events,
        summarised.window_started_at,
        summarised.last_event_at,
        summarised.top_category,
        summarised.top_category_share,
        {{ seconds_between(
            'summarised.last_event_at', 'point_in_time.as_of'
        ) }} as seconds_since_last_event,
        summarised.last_session_id,
        summarised.last_session_started_at,
        summarised.last_session_n_events,
        summarised.last_session_seconds,
        summarised.last_session_items,
        summarised.drift_tvd,
        summarised.drift_cosine,
        point_in_time.as_of

    from summarised
    cross join point_in_time

)

select * from final
