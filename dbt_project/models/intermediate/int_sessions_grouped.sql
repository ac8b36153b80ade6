{#- Each user's activity cut into sessions: a gap longer than
    session_gap_minutes ends a session, and so does midnight UTC, so that a
    day's sessions depend on that day's events alone (the unit incremental
    runs and backfills rebuild). Impressions are not activity. -#}
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

{% if is_incremental() %}

changed as (

    {{ changed_days(ref('stg_landing__events_flagged')) }}

),

{% endif %}

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
        {% if is_incremental() %}
            and event_date in (select changed_day from changed)
        {% endif %}

),

gaps as (

    select
        *,
        lag(event_ts) over (
            partition by user_id, event_date order by event_ts, event_id
        ) as previous_event_at

    from activity

),

starts as (

    select
        *,
        case
            when previous_event_at is null then 1
            when
                {{ seconds_between('previous_event_at', 'event_ts') }}
                > {{ var('session_gap_minutes') }} * 60
                then 1
            else 0
        end as is_session_start

    from gaps

),

numbered as (

    select
        *,
        cast(sum(is_session_start) over (
            partition by user_id, event_date
            order by event_ts, event_id
            rows between unbounded preceding and current row
        ) as integer) as session_number

    from starts

),

final as (

    select
        user_id
        || '-'
        || cast(
            cast({{ epoch_seconds('min(event_ts)') }} as bigint) as varchar
        ) as session_id,
        user_id,
        event_date as session_date,
        session_number,
        min(event_ts) as started_at,
        max(event_ts) as ended_at,
        {{ seconds_between('min(event_ts)', 'max(event_ts)') }}
            as duration_seconds,
        count(*) as n_events,
        count(item_id) as n_item_events,
        count(distinct item_id) as n_items,
        max(staged_at) as staged_at

    from numbered
    group by user_id, event_date, session_number

)

select * from final
