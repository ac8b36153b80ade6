{#- Every landed event row, typed, with the reason it cannot be used (or null).
    A landed row is known by its event_id and source location (file and line).
    Incremental by day: a run rebuilds the days whose landed rows changed.
    staged_at is when the row's day was last rebuilt; changed_at when the row
    itself last changed (new, edited, or its reason changed; every row of a
    backfilled day), which is how the per-user tables find their users. -#}
{{ config(
    materialized='incremental',
    on_schema_change='fail',
    **day_partitioned('event_date')
) }}

{%- set hashed_columns = [
    'event_id', 'user_id', 'item_id', 'event_type', 'event_ts', 'rating',
    'query', 'rec_run_id', 'model_version', 'source_loc',
] %}

with

events as (

    select * from {{ source('landing', 'events') }}

),

items as (

    select * from {{ ref('stg_landing__items') }}

),

typed as (

    select
        cast(event_id as {{ dbt.type_string() }}) as event_id,
        cast(user_id as {{ dbt.type_string() }}) as user_id,
        cast(item_id as {{ dbt.type_string() }}) as item_id,
        cast(event_type as {{ dbt.type_string() }}) as event_type,
        cast(event_ts as timestamp) as event_ts,
        cast(event_ts as date) as event_date,
        cast(rating as double) as rating,
        cast(query as {{ dbt.type_string() }}) as query,
        cast(rec_run_id as {{ dbt.type_string() }}) as rec_run_id,
        cast(model_version as integer) as model_version,
        cast(source_loc as {{ dbt.type_string() }}) as source_loc,
        cast(load_id as {{ dbt.type_string() }}) as load_id

    from events

),

hashed as (

    select
        *,
        {{ row_hash(hashed_columns) }} as row_hash

    from typed

),

{% if is_incremental() %}

staged as (

    select * from {{ this }}

),

{# A load_id names its rows: rows of a load staging has seen are unchanged,
   so only the days holding rows of new loads are compared. (A landing that
   replaces raw.events whole gives every row a new load_id.) #}
new_load_days as (

    select distinct typed.event_date

    from typed
    left join (select distinct load_id from staged) as seen
        on typed.load_id = seen.load_id
    where seen.load_id is null

),

landed_days as (

    select
        event_date,
        count(*) as n_rows,
        {{ hash_sum('row_hash') }} as fingerprint

    from hashed
    where event_date in (select event_date from new_load_days)
    group by event_date

),

staged_days as (

    select
        event_date,
        count(*) as n_rows,
        {{ hash_sum('row_hash') }} as fingerprint

    from staged
    where event_date in (select event_date from new_load_days)
    group by event_date

),

{# Days staged whose rows are no longer landed at all. #}
vanished_days as (

    select distinct event_date from staged
    where event_date not in (select distinct event_date from typed)

),

{# An item that appeared in (or left) the catalogue changes whether its
    events can be used. #}
item_changes as (

    select distinct staged.event_date

    from staged
    left join items on staged.item_id = items.item_id
    where
        (staged.reason = 'unknown_item' and items.item_id is not null)
        or (
            staged.reason is null
            and staged.item_id is not null
            and items.item_id is null
        )

),

changed_days as (

    select coalesce(landed_days.event_date, staged_days.event_date) as event_date

    from landed_days
    full outer join staged_days
        on landed_days.event_date = staged_days.event_date
    where
        landed_days.n_rows is null
        or staged_days.n_rows is null
        or landed_days.n_rows != staged_days.n_rows
        or landed_days.fingerprint != staged_days.fingerprint

    union

    select distinct event_date from typed
    where {{ in_backfill_range('event_date') }}

    union

    select event_date from vanished_days

    union

    select event_date from item_changes

),

{# Which copy of an event counts depends on all its copies, so every day that
    holds a copy of an event from a changed day is rebuilt too. #}
touched_events as (

    select event_id from hashed
    where event_date in (select event_date from changed_days)

    union

    select event_id from staged
    where event_date in (select event_date from changed_days)

),

rebuilt_days as (

    select event_date from changed_days

    union

    select event_date from hashed
    where event_id in (select event_id from touched_events)

),

{# The rows of the rebuilt days as staged before this run. #}
previous as (

    select
        event_id,
        source_loc,
        row_hash,
        reason,
        changed_at

    from staged
    where event_date in (select event_date from rebuilt_days)

),

{# Every row of the rebuilt days, and the other copies of their events. #}
candidates as (

    select * from hashed
    where event_id in (
        select event_id from hashed
        where event_date in (select event_date from rebuilt_days)
    )

),

{% else %}

candidates as (

    select * from hashed

),

{% endif %}

{# Only events landed more than once need their copies ranked. Counting by
   a hash of the id is cheaper than by the id; a collision only ranks a few
   more rows. #}
repeated_ids as (

    select {{ row_hash(['event_id']) }} as id_hash

    from candidates
    group by {{ row_hash(['event_id']) }}
    having count(*) > 1

),

copies as (

    select
        event_id,
        source_loc,
        row_number() over (
            partition by event_id
            order by event_ts, source_loc, row_hash
        ) as copy_number

    from candidates
    where
        {{ row_hash(['event_id']) }}
        in (select repeated_ids.id_hash from repeated_ids)

),

numbered as (

    select
        candidates.*,
        items.item_id is not null as item_known,
        coalesce(copies.copy_number, 1) as copy_number

    from candidates
    left join items on candidates.item_id = items.item_id
    left join copies
        on
            candidates.event_id = copies.event_id
            and candidates.source_loc = copies.source_loc

),

flagged as (

    select
        event_id,
        user_id,
        item_id,
        event_type,
        event_ts,
        event_date,
        rating,
        query,
        rec_run_id,
        model_version,
        source_loc,
        load_id,
        row_hash,
        case
            when copy_number > 1 then 'duplicate_event_id'
            when item_id is not null and not item_known then 'unknown_item'
        end as reason

    from numbered
    {% if is_incremental() %}
    where event_date in (select event_date from rebuilt_days)
    {% endif %}

),

final as (

    select
        flagged.*,
        {{ batch_timestamp() }} as staged_at,
        {% if is_incremental() %}
        case
            when
                previous.row_hash = flagged.row_hash
                and previous.reason is not distinct from flagged.reason
                and not ({{ in_backfill_range('flagged.event_date') }})
                then previous.changed_at
            else {{ batch_timestamp() }}
        end as changed_at
        {% else %}
        {{ batch_timestamp() }} as changed_at
        {% endif %}

    from flagged
    {% if is_incremental() %}
    left join previous
        on
            flagged.event_id = previous.event_id
            and flagged.source_loc = previous.source_loc
    {% endif %}

)

select * from final
