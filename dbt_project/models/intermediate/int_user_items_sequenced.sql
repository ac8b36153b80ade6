{#- Each user's distinct items in the order first met (ties by item_id):
    the sequence that models learn from (macros/item_sequence.sql). A view:
    fct_user_item_splits numbers the rebuilt users' items by the same
    macro. -#}
{{ config(materialized='view') }}

with

user_items as (

    select * from {{ ref('int_user_items_aggregated') }}

),

final as (

    {{ item_sequence('user_items') }}

)

select * from final
