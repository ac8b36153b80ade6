{#- No leakage into training examples. For every example, the latest event
    its features saw is strictly before its target. For the first
    leakage_test_users users, every feature is computed again from scratch,
    by a plain join on the user's events strictly before the target, and
    must equal the model's (the decayed affinity to 1e-9, relative). An
    incremental run checks the users it rebuilt (the var test_all_rows: all
    users). -#}
with

all_examples as (

    select * from {{ ref('fct_training_examples') }}

),

examples as (

    select all_examples.* from all_examples
    {%- if not var('test_all_rows', false) %}
    where
        all_examples.built_at
        = (select max(latest.built_at) from all_examples as latest)
    {%- endif %}

),

events as (

    select * from {{ ref('int_events_weighted') }}

),

sampled_users as (

    select user_id
    from examples
    where seq_pos = 1
    order by user_id
    limit {{ var('leakage_test_users') }}

),

recomputed as (

    select
        examples.user_id,
        examples.item_id,
        count(events.event_id) as n_prior_events,
        count(distinct events.item_id) as n_prior_items,
        max(events.event_ts) as last_prior_event_at,
        count(
            case when events.category = examples.category then 1 end
        ) as n_prior_category_events,
        coalesce(sum(
            case
                when events.category = examples.category
                    then events.weight * {{ decay_weight(
                        days_between(
                            'events.event_ts', 'examples.target_event_at'
                        ),
                        var('half_life_days')
                    ) }}
            end
        ), 0.0) as prior_category_affinity

    from examples
    inner join sampled_users on examples.user_id = sampled_users.user_id
    left join events
        on
            examples.user_id = events.user_id
            and examples.target_event_at > events.event_ts
    group by examples.user_id, examples.item_id

),

leaks as (

    select
        user_id,
        item_id,
        'a feature saw an event at or after the target' as problem

    from examples
    where last_prior_event_at >= target_event_at

),

mismatches as (

    select
        examples.user_id,
        examples.item_id,
        'features differ from a recomputation over earlier events' as problem

    from examples
    inner join recomputed
        on
            examples.user_id = recomputed.user_id
            and examples.item_id = recomputed.item_id
    where
        examples.n_prior_events != recomputed.n_prior_events
        or examples.n_prior_items != recomputed.n_prior_items
        or examples.n_prior_category_events
        != recomputed.n_prior_category_events
        or examples.last_prior_event_at
        is distinct from recomputed.last_prior_event_at
        or abs(
            examples.prior_category_affinity
            - recomputed.prior_category_affinity
        ) > 1e-9 * greatest(
            abs(examples.prior_category_affinity),
            abs(recomputed.prior_category_affinity)
        )

),

final as (

    select * from leaks
    union all
    select * from mismatches

)

select * from final
