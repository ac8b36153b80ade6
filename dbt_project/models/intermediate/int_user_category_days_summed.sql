{#- Interest events summed per user, category and day: the daily aggregate
    that dashboards and the long-term marts read instead of every event.
    Besides counts and weights it keeps what the as-of marts need to age the
    day's events to any moment without reading them again: decay_sum, the
    weights decayed to the day's centre (noon UTC; exponential decay
    factors, so ageing the day is one multiplication), and the weighted
    moments of the events' offsets from noon for alpha(t) (a Taylor series,
    macros/time_weights.sql). -#}
{{ config(
    materialized='incremental',
    on_schema_change='fail',
    **day_partitioned('event_date')
) }}

{%- if var('half_life_days') | float < 0.001 %}
    {{ exceptions.raise_compiler_error(
        "half_life_days under 0.001 would overflow the day's decay_sum"
    ) }}
{%- endif %}

-- depends_on: {{ ref('stg_landing__events_flagged') }}

with

events as (

    select * from {{ ref('int_events_weighted') }}

),

offsets as (

    select
        *,
        {{ days_between('cast(event_date as timestamp)', 'event_ts') }} - 0.5
            as noon_offset

    from events
    where {{ in_changed_days('event_date') }}

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
        sum(
            weight
            * {{ decay_weight('-noon_offset', var('half_life_days')) }}
        ) as decay_sum,
        {%- for j in range(1, alpha_moments_stored() + 1) %}
        sum(weight * power(noon_offset, {{ j }})) as weight_moment_{{ j }},
        {%- endfor %}
        max(staged_at) as staged_at

    from offsets
    group by user_id, category, event_date

)

select * from final
