{#- Per user, up to the as_of moment: the last short_term_n interest events
    and the last session as ordered item sequences, their leading category,
    the last session's length, and how far the short-term mix drifts from
    the long-term one: everything of user_short_term_interests that does not
    move with as_of. Incremental by user: a run rebuilds the users with
    newly staged events. -#}
{{ config(
    on_schema_change='fail',
    **user_partitioned()
) }}

-- depends_on: {{ ref('stg_landing__events_flagged') }}

with

recent as (

    select * from {{ ref('int_recent_events_ranked') }}
    where {{ in_rebuilt_users('user_id') }}

),

sessions as (

    select * from {{ ref('int_sessions_grouped') }}
    where {{ in_rebuilt_users('user_id') }}

),

events as (

    select events.*
    from {{ ref('stg_landing__events') }} as events
    {{ join_rebuilt_users('events') }}

),

mix as (

    select * from {{ ref('user_short_term_category_mix') }}
    where {{ in_rebuilt_users('user_id') }}

),

category_counts as (

    select
        user_id,
        category,
        count(*) as n_events,
        row_number() over (
            partition by user_id order by count(*) desc, category asc
        ) as category_rank

    from recent
    group by user_id, category

),

per_user as (

    select
        user_id,
        {{ ordered_list('item_id', 'recency_rank desc') }} as recent_items,
        count(*) as n_events,
        min(event_ts) as window_started_at,
        max(event_ts) as last_event_at

    from recent
    group by user_id

),

session_order as (

    select
        sessions.user_id,
        sessions.session_id,
        sessions.session_date,
        sessions.started_at,
        sessions.ended_at,
        row_number() over (
            partition by sessions.user_id order by sessions.started_at desc
        ) as session_recency

    from sessions
    where {{ up_to_as_of('sessions.started_at') }}

),

last_sessions as (

    select * from session_order
    where session_recency = 1

),

{# The last session's activity up to as_of (a session can straddle it). #}
last_session_events as (

    select
        last_sessions.user_id,
        last_sessions.session_id,
        events.event_id,
        events.item_id,
        events.event_ts

    from last_sessions
    inner join events
        on
            last_sessions.user_id = events.user_id
            and last_sessions.session_date = events.event_date
            and last_sessions.started_at <= events.event_ts
            and last_sessions.ended_at >= events.event_ts
    where
        {{ up_to_as_of('events.event_ts') }}
        and events.event_type != 'impression'

),

last_session_stats as (

    select
        user_id,
        session_id,
        min(event_ts) as started_at,
        max(event_ts) as ended_at,
        count(*) as n_events

    from last_session_events
    group by user_id, session_id

),

last_session_items as (

    select
        user_id,
        {{ ordered_list('item_id', 'event_ts, event_id') }} as items

    from last_session_events
    where item_id is not null
    group by user_id

),

drift as (

    select
        user_id,
        0.5 * sum(share_gap) as drift_tvd,
        1.0 - sum(short_share * long_share) / nullif(
            sqrt(sum(short_share * short_share))
            * sqrt(sum(long_share * long_share)),
            0
        ) as drift_cosine

    from mix
    group by user_id

),

final as (

    select
        per_user.user_id,
        per_user.recent_items,
        per_user.n_events,
        per_user.window_started_at,
        per_user.last_event_at,
        category_counts.category as top_category,
        cast(category_counts.n_events as double) / per_user.n_events
            as top_category_share,
        last_session_stats.session_id as last_session_id,
        last_session_stats.started_at as last_session_started_at,
        last_session_stats.n_events as last_session_n_events,
        {{ seconds_between(
            'last_session_stats.started_at', 'last_session_stats.ended_at'
        ) }} as last_session_seconds,
        last_session_items.items as last_session_items,
        drift.drift_tvd,
        drift.drift_cosine,
        {{ user_build_columns() }}

    from per_user
    inner join category_counts
        on
            per_user.user_id = category_counts.user_id
            and category_counts.category_rank = 1
    left join last_session_stats
        on per_user.user_id = last_session_stats.user_id
    left join last_session_items
        on per_user.user_id = last_session_items.user_id
    left join drift on per_user.user_id = drift.user_id

)

select * from final
