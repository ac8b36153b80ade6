{#- Each user's distinct items in the order first met (ties by item_id):
    the sequence that models learn from. A view: only the splits read it. -#}
{{ config(materialized='view') }}

with

user_items as (

    select * from {{ ref('int_user_items_aggregated') }}

),

final as (

    select
        user_id,
        item_id,
        first_event_at,
        n_events,
        strongest_weight,
        row_number() over (
            partition by user_id order by first_event_at, item_id
        ) as seq_pos,
        count(*) over (partition by user_id) as n_items,
        built_at

    from user_items

)

select * from final
