{#- Each user's last short_term_n interest events up to the as_of moment,
    ranked from the latest (1) back. Incremental by user: a run rebuilds the
    users with newly staged events. -#}
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

ranked as (

    select
        user_id,
        event_id,
        item_id,
        category,
        event_type,
        event_ts,
        weight,
        row_number() over (
            partition by user_id
            order by event_ts desc, event_id desc
        ) as recency_rank

    from events
    where {{ up_to_as_of('event_ts') }}

),

final as (

    select
        *,
        {{ user_build_columns() }}

    from ranked
    where recency_rank <= {{ var('short_term_n') }}

)

select * from final
