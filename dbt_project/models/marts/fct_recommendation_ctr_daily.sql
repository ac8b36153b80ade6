{#- Click-through on published recommendations per day and model version:
    impressions and clicks are events that name the run that recommended the
    item (rec_run_id); the model version is the event's own, else the
    published run's. Feedback whose version cannot be told is left out. -#}
{{ config(
    materialized='incremental',
    on_schema_change='fail',
    **day_partitioned('event_date')
) }}

-- depends_on: {{ ref('stg_landing__events_flagged') }}

with

events as (

    select * from {{ ref('stg_landing__events') }}

),

runs as (

    select * from {{ ref('stg_published__recommendation_runs') }}

),

feedback as (

    select
        events.event_date,
        events.user_id,
        events.event_type,
        events.rec_run_id,
        events.staged_at,
        coalesce(events.model_version, runs.model_version) as model_version

    from events
    left join runs on events.rec_run_id = runs.run_id
    where
        events.event_type in ('impression', 'click')
        and events.rec_run_id is not null
        and {{ in_changed_days('events.event_date') }}

),

final as (

    select
        event_date,
        model_version,
        count(distinct rec_run_id) as n_runs,
        sum(case when event_type = 'impression' then 1 else 0 end)
            as impressions,
        sum(case when event_type = 'click' then 1 else 0 end) as clicks,
        count(
            distinct case when event_type = 'impression' then user_id end
        ) as users_shown,
        count(
            distinct case when event_type = 'click' then user_id end
        ) as users_clicking,
        cast(sum(case when event_type = 'click' then 1 else 0 end) as double)
        / nullif(
            sum(case when event_type = 'impression' then 1 else 0 end), 0
        ) as ctr,
        max(staged_at) as staged_at

    from feedback
    where model_version is not null
    group by event_date, model_version

)

select * from final
