{#- Leave-one-out: last item test, second to last validation, the rest train.
    Users with fewer than 3 items train only. Incremental by user: a run
    rewrites the users with newly staged events. -#}
{{ config(
    on_schema_change='fail',
    **user_partitioned()
) }}

-- depends_on: {{ ref('stg_landing__events_flagged') }}

with

{# The rebuilt users' items, numbered as int_user_items_sequenced numbers
   them, after the other users are left out. #}
user_items as (

    select user_items.*
    from {{ ref('int_user_items_aggregated') }} as user_items
    {{ join_rebuilt_users('user_items') }}

),

sequenced as (

    {{ item_sequence('user_items') }}

),

final as (

    select
        user_id,
        item_id,
        seq_pos,
        n_items,
        first_event_at,
        strongest_weight,
        case
            when n_items < 3 then 'train'
            when seq_pos = n_items then 'test'
            when seq_pos = n_items - 1 then 'valid'
            else 'train'
        end as split,
        {{ user_build_columns() }}

    from sequenced

)

select * from final
