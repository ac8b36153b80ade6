{#- Time-decayed and alpha(t) affinity per user and category, as of the
    as_of moment. Every row changes as as_of moves, but the sums need no
    event: each day before the as_of day is one row of
    int_user_category_days_summed, aged from its noon to as_of (decay by
    one factor, alpha(t) by its moments); the as_of day's own events up to
    as_of are buckets of one event each. When alpha_k is too large for the
    stored moments, every event is its own bucket (exact, slower). -#}
{%- set k = var('alpha_k') %}
{%- set terms = alpha_taylor_terms(k) %}
{%- set moments = alpha_moment_columns(terms) %}

with

days as (

    select * from {{ ref('int_user_category_days_summed') }}

),

events as (

    select * from {{ ref('int_events_weighted') }}

),

point_in_time as (

    select
        {{ as_of_timestamp() }} as as_of,
        cast({{ as_of_timestamp() }} as date) as as_of_date

),

{# One row per bucket: its events' count, latest time, age of its centre
   at as_of (days), weights decayed to the centre, and moments. #}
buckets as (

    {% if terms is not none %}
    select
        days.user_id,
        days.category,
        days.n_events,
        days.last_event_at,
        {{ days_between(
            'cast(days.event_date as timestamp)', 'point_in_time.as_of'
        ) }} - 0.5 as centre_age,
        days.decay_sum,
        {{ 'days.' ~ moments | join(', days.') }}

    from days
    cross join point_in_time
    where days.event_date < point_in_time.as_of_date

    union all

    {% endif %}
    select
        events.user_id,
        events.category,
        1 as n_events,
        events.event_ts as last_event_at,
        {{ days_between('events.event_ts', 'point_in_time.as_of') }}
            as centre_age,
        events.weight as decay_sum,
        {{ 'events.weight as total_weight' ~ moments[1:]
            | map('replace', 'weight_moment', ', 0.0 as weight_moment')
            | join('') }}

    from events
    cross join point_in_time
    where
        events.event_ts <= point_in_time.as_of
        {%- if terms is not none %}
        and events.event_date >= point_in_time.as_of_date
        {%- endif %}

),

aged as (

    select
        *,
        {{ alpha_weight('centre_age', k) }} as centre_alpha

    from buckets

),

per_category as (

    select
        user_id,
        category,
        cast(sum(n_events) as bigint) as n_events,
        sum(
            decay_sum
            * {{ decay_weight('centre_age', var('half_life_days')) }}
        ) as affinity,
        sum({{ alpha_from_moments('centre_alpha', moments, k) }})
            as alpha_affinity,
        max(last_event_at) as last_event_at

    from aged
    group by user_id, category

),

final as (

    select
        per_category.user_id,
        per_category.category,
        per_category.n_events,
        per_category.affinity,
        per_category.alpha_affinity,
        {{ days_between('per_category.last_event_at', 'point_in_time.as_of') }}
            as days_since_last,
        per_category.affinity
        / nullif(
            sum(per_category.affinity) over (
                partition by per_category.user_id
            ),
            0
        ) as affinity_share,
        row_number() over (
            partition by per_category.user_id
            order by per_category.affinity desc, per_category.category asc
        ) as category_rank,
        per_category.alpha_affinity
        / nullif(
            sum(per_category.alpha_affinity) over (
                partition by per_category.user_id
            ),
            0
        ) as alpha_affinity_share,
        per_category.last_event_at,
        point_in_time.as_of

    from per_category
    cross join point_in_time

)

select * from final
