{#- Each user's activity cut into sessions: a gap longer than
    session_gap_minutes ends a session, and so does midnight UTC, so that a
    day's sessions depend on that day's events alone (the unit incremental
    runs and backfills rebuild). Impressions are not activity. One sorted
    pass finds each session's first and last event; the k-th first pairs
    with the k-th last. staging rewrites whole days, so all of a day's events
    carry the same staged_at. -#}
{{ config(
    materialized='incremental',
    on_schema_change='fail',
    **day_partitioned('session_date')
) }}

-- depends_on: {{ ref('stg_landing__events_flagged') }}

with

events as (

    select * from {{ ref('stg_landing__events') }}

),

activity as (

    select
        event_id,
        user_id,
        item_id,
        event_ts,
        event_date,
        staged_at

    from events
    where
        event_type != 'impression'
        and {{ in_changed_days('event_date') }}

),

positioned as (

    select
        *,
        lag(event_ts) over day_order as previous_event_at,
        lead(event_ts) over day_order as next_event_at,
        row_number() over day_order as day_position,
        {#- the frame written out: Spark cannot add one to a named window -#}
        count(item_id) over (
            partition by user_id, event_date
            order by event_ts, event_id
            rows between unbounded preceding and current row
        ) as item_events_so_far

    from activity
    window day_order as (
        partition by user_id, event_date order by event_ts, event_id
    )

),

bounds as (

    select
        *,
        coalesce(
            {{ seconds_between('previous_event_at', 'event_ts') }}
            > {{ var('session_gap_minutes') }} * 60,
            true
        ) as starts_session,
        coalesce(
            {{ seconds_between('event_ts', 'next_event_at') }}
            > {{ var('session_gap_minutes') }} * 60,
            true
        ) as ends_session

    from positioned

),

starts as (

    select
        user_id,
        event_date,
        event_ts,
        day_position,
        item_events_so_far - (case when item_id is null then 0 else 1 end)
            as item_events_before,
        staged_at,
        row_number() over (
            partition by user_id, event_date order by day_position
        ) as session_number

    from bounds
    where starts_session

),

ends as (

    select
        user_id,
        event_date,
        event_ts,
        day_position,
        item_events_so_far,
        row_number() over (
            partition by user_id, event_date order by day_position
        ) as session_number

    from bounds
    where ends_session

),

final as (

    select
        starts.user_id
        || '-'
        || cast(
            cast({{ epoch_seconds('starts.event_ts') }} as bigint)
            as {{ dbt.type_string() }}
        ) as session_id,
        starts.user_id,
        starts.event_date as session_date,
        cast(starts.session_number as integer) as session_number,
        starts.event_ts as started_at,
        ends.event_ts as ended_at,
        {{ seconds_between('starts.event_ts', 'ends.event_ts') }}
            as duration_seconds,
        ends.day_position - starts.day_position + 1 as n_events,
        ends.item_events_so_far - starts.item_events_before as n_item_events,
        starts.staged_at

    from starts
    inner join ends
        on
            starts.user_id = ends.user_id
            and starts.event_date = ends.event_date
            and starts.session_number = ends.session_number

)

select * from final
