{#- Per user and category, the share of the user's last short_term_n events
    beside the category's long-term affinity share: the two distributions
    whose distance is the user's drift. The affinity shares do not depend on
    as_of (ageing multiplies all of a user's affinities by one factor), so
    only users with newly staged events change: incremental by user. -#}
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

long_term as (

    select * from {{ ref('user_long_term_interests') }}
    where {{ in_rebuilt_users('user_id') }}

),

short_term as (

    select
        user_id,
        category,
        count(*) as n_events,
        cast(count(*) as double)
        / sum(count(*)) over (partition by user_id) as event_share

    from recent
    group by user_id, category

),

final as (

    select
        coalesce(short_term.user_id, long_term.user_id) as user_id,
        coalesce(short_term.category, long_term.category) as category,
        coalesce(short_term.n_events, 0) as short_n_events,
        coalesce(short_term.event_share, 0.0) as short_share,
        coalesce(long_term.affinity_share, 0.0) as long_share,
        abs(
            coalesce(short_term.event_share, 0.0)
            - coalesce(long_term.affinity_share, 0.0)
        ) as share_gap,
        {{ user_build_columns() }}

    from short_term
    full outer join long_term
        on
            short_term.user_id = long_term.user_id
            and short_term.category = long_term.category

)

select * from final
