{#- Each user's distinct items of `relation` (int_user_items_aggregated, or
    the rows of some of its users) in the order first met, ties by item_id:
    int_user_items_sequenced shows it, fct_user_item_splits numbers the
    rebuilt users' items with it before anything else. -#}
{% macro item_sequence(relation) -%}
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

    from {{ relation }}
{%- endmacro %}
