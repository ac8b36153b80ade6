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
    to its start). The result is exact, with no cut-off.

    Incremental by user. A run rebuilds the users with changed event rows;
    a user's examples whose targets come before the user's earliest changed
    event keep their features (they saw only unchanged events) and take
    their split afresh, the others are computed again. Their history needs
    no event before the day of that earliest change: each earlier day is
    one bucket of int_user_category_days_summed (its count, latest time
    and weights decayed to its noon), all strictly before those targets. A
    full build computes every example from the events. -#}
{{ config(
    on_schema_change='fail',
    **user_partitioned()
) }}
{%- set epoch_days = 256 * var('half_life_days') %}
{%- set partial = not user_table_state().rebuild_all %}

-- depends_on: {{ ref('stg_landing__events_flagged') }}
-- depends_on: {{ ref('int_user_category_days_summed') }}

with

splits as (

    select splits.*
    from {{ ref('fct_user_item_splits') }} as splits
    {{ join_rebuilt_users('splits') }}

),

events as (

    select * from {{ ref('int_events_weighted') }}

),

items as (

    select * from {{ ref('stg_landing__items') }}

),

{% if partial %}

{# Each rebuilt user and the time of their earliest changed event row. #}
rebuilt_users as (

    {{ rebuilt_users_since() }}

),

days as (

    select * from {{ ref('int_user_category_days_summed') }}

),

{# The user's history as buckets: the days before the day of the earliest
   change (anchored at noon), then one bucket per event. #}
buckets as (

    select
        days.user_id,
        days.category,
        days.last_event_at as event_ts,
        days.n_events,
        days.decay_sum as weight,
        {{ epoch_seconds('cast(days.event_date as timestamp)') }} + 43200.0
            as anchor_seconds

    from days
    inner join rebuilt_users
        on
            days.user_id = rebuilt_users.user_id
            and days.event_date < cast(rebuilt_users.changed_from as date)

    union all

    select
        events.user_id,
        events.category,
        events.event_ts,
        1 as n_events,
        events.weight,
        {{ epoch_seconds('events.event_ts') }} as anchor_seconds

    from events
    inner join rebuilt_users
        on
            events.user_id = rebuilt_users.user_id
            and events.event_date >= cast(rebuilt_users.changed_from as date)

),

{% else %}

buckets as (

    select
        user_id,
        category,
        event_ts,
        1 as n_events,
        weight,
        {{ epoch_seconds('event_ts') }} as anchor_seconds

    from events
    where {{ up_to_as_of('event_ts') }}

),

{% endif %}

history as (

    select
        user_id,
        category,
        event_ts,
        n_events,
        anchor_seconds,
        weight,
        floor(anchor_seconds / ({{ epoch_days }} * 86400.0)) as epoch_no

    from buckets

),

user_moments as (

    select
        user_id,
        event_ts,
        sum(n_events) as n_events

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
        sum(n_events) as n_events,
        sum(
            weight * {{ decay_weight(
                '-(anchor_seconds'
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

ranked_targets as (

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

targets as (

    select ranked_targets.* from ranked_targets
    {%- if partial %}
    inner join rebuilt_users
        on
            ranked_targets.user_id = rebuilt_users.user_id
            and ranked_targets.target_event_at >= rebuilt_users.changed_from
    {%- endif %}

),

computed as (

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

),

{% if partial %}

{# Examples before the user's earliest change: features as built, the
   split afresh. #}
kept as (

    select
        previous.user_id,
        previous.item_id,
        previous.target_event_at,
        splits.seq_pos,
        splits.split,
        previous.category,
        previous.n_prior_items,
        previous.n_prior_events,
        previous.last_prior_event_at,
        previous.seconds_since_prior_event,
        previous.n_prior_category_events,
        previous.prior_category_share,
        previous.prior_category_affinity,
        {{ user_build_columns() }}

    from {{ this }} as previous
    inner join rebuilt_users
        on
            previous.user_id = rebuilt_users.user_id
            and previous.target_event_at < rebuilt_users.changed_from
    inner join splits
        on
            previous.user_id = splits.user_id
            and previous.item_id = splits.item_id

),

final as (

    select * from computed
    union all
    select * from kept

)

{% else %}

final as (

    select * from computed

)

{% endif %}

select * from final
