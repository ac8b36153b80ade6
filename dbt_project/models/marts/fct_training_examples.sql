{#- One training example per user and item: the target is the user's first
    event with the item, and every feature comes from the user's events
    strictly before that event. Window frames run over one row per moment
    (user and timestamp) and stop one row before the current one, so a
    moment never sees itself, its ties or anything later.

    NOTE: the decayed affinity at the target moment T is
    sum(w * 2^(-(T - t) / h)). Written as a running sum it factors into
    2^(-T / h) * sum(w * 2^(t / h)), which overflows a double after about
    1000 half-lives. So time is cut into epochs of 256 half-lives: inside an
    epoch the running sum is taken relative to the epoch's start, and each
    epoch starts from what the earlier ones carry over (their total decayed
    to its start). The result is exact, with no cut-off. -#}
{%- set epoch_days = 256 * var('half_life_days') %}

-- depends_on: {{ ref('stg_landing__events_flagged') }}

with

splits as (

    select * from {{ ref('fct_user_item_splits') }}
    where {{ in_rebuilt_users('user_id') }}

),

events as (

    select * from {{ ref('int_events_weighted') }}

),

items as (

    select * from {{ ref('stg_landing__items') }}

),

history as (

    select
        events.user_id,
        events.category,
        events.event_ts,
        events.weight,
        floor(
            {{ epoch_seconds('events.event_ts') }}
            / ({{ epoch_days }} * 86400.0)
        ) as epoch_no

    from events
    where
        {{ up_to_as_of('events.event_ts') }}
        and {{ in_rebuilt_users('events.user_id') }}

),

user_moments as (

    select
        user_id,
        event_ts,
        count(*) as n_events

    from history
    group by user_id, event_ts

),

user_prior as (

    select
        user_id,
        event_ts,
        cast(coalesce(
            sum(n_events) over (
                partition by user_id
                order by event_ts
                rows between unbounded preceding and 1 preceding
            ),
            0
        ) as bigint) as n_prior_events,
        lag(event_ts) over (
            partition by user_id order by event_ts
        ) as last_prior_event_at

    from user_moments

),

category_moments as (

    select
        user_id,
        category,
        event_ts,
        epoch_no,
        count(*) as n_events,
        sum(
            weight * {{ decay_weight(
                '-(' ~ epoch_seconds('event_ts')
                ~ ' / 86400.0 - epoch_no * ' ~ epoch_days ~ ')',
                var('half_life_days')
            ) }}
        ) as epoch_weight

    from history
    group by user_id, category, event_ts, epoch_no

),

category_prior as (

    select
        user_id,
        category,
        event_ts,
        epoch_no,
        coalesce(sum(n_events) over epoch_order, 0) as n_before_in_epoch,
        coalesce(sum(epoch_weight) over epoch_order, 0)
            as weight_before_in_epoch

    from category_moments
    window epoch_order as (
        partition by user_id, category, epoch_no
        order by event_ts
        rows between unbounded preceding and 1 preceding
    )

),

epoch_totals as (

    select
        user_id,
        category,
        epoch_no,
        sum(n_events) as n_events,
        sum(epoch_weight) as epoch_weight

    from category_moments
    group by user_id, category, epoch_no

),

{# What earlier epochs hand on to each epoch: their events, and their weight
   decayed to the epoch's start. Empty while a user's history in a category
   spans one epoch. #}
epoch_carry as (

    select
        later.user_id,
        later.category,
        later.epoch_no,
        sum(earlier.n_events) as n_events,
        sum(
            earlier.epoch_weight * {{ decay_weight(
                '(later.epoch_no - earlier.epoch_no) * ' ~ epoch_days,
                var('half_life_days')
            ) }}
        ) as epoch_weight

    from epoch_totals as later
    inner join epoch_totals as earlier
        on
            later.user_id = earlier.user_id
            and later.category = earlier.category
            and later.epoch_no > earlier.epoch_no
    group by later.user_id, later.category, later.epoch_no

),

targets as (

    select
        splits.user_id,
        splits.item_id,
        splits.seq_pos,
        splits.split,
        splits.first_event_at as target_event_at,
        items.category,
        rank() over (
            partition by splits.user_id order by splits.first_event_at
        ) - 1 as n_prior_items,
        floor(
            {{ epoch_seconds('splits.first_event_at') }}
            / ({{ epoch_days }} * 86400.0)
        ) as epoch_no

    from splits
    inner join items on splits.item_id = items.item_id

),

final as (

    select
        targets.user_id,
        targets.item_id,
        targets.target_event_at,
        targets.seq_pos,
        targets.split,
        targets.category,
        targets.n_prior_items,
        user_prior.n_prior_events,
        user_prior.last_prior_event_at,
        {{ seconds_between(
            'user_prior.last_prior_event_at', 'targets.target_event_at'
        ) }} as seconds_since_prior_event,
        cast(
            category_prior.n_before_in_epoch
            + coalesce(epoch_carry.n_events, 0) as bigint
        ) as n_prior_category_events,
        cast(
            category_prior.n_before_in_epoch
            + coalesce(epoch_carry.n_events, 0) as double
        ) / nullif(user_prior.n_prior_events, 0) as prior_category_share,
        (
            category_prior.weight_before_in_epoch
            + coalesce(epoch_carry.epoch_weight, 0.0)
        ) * {{ decay_weight(
            epoch_seconds('targets.target_event_at')
            ~ ' / 86400.0 - targets.epoch_no * ' ~ epoch_days,
            var('half_life_days')
        ) }} as prior_category_affinity,
        {{ user_build_columns() }}

    from targets
    inner join user_prior
        on
            targets.user_id = user_prior.user_id
            and targets.target_event_at = user_prior.event_ts
    inner join category_prior
        on
            targets.user_id = category_prior.user_id
            and targets.category = category_prior.category
            and targets.target_event_at = category_prior.event_ts
    left join epoch_carry
        on
            targets.user_id = epoch_carry.user_id
            and targets.category = epoch_carry.category
            and targets.epoch_no = epoch_carry.epoch_no

)

select * from final
