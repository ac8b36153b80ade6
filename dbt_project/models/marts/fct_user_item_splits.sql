{#- Leave-one-out: last item test, second to last validation, the rest train.
    Users with fewer than 3 items train only. -#}
with

sequenced as (

    select * from {{ ref('int_user_items_sequenced') }}

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
        end as split

    from sequenced

)

select * from final
