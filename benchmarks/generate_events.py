"""Generated behaviour events, written straight into ``raw.*`` with DuckDB SQL.

    .venv/bin/python benchmarks/generate_events.py /tmp/w.duckdb --events 1000000

Fast enough for 10M events (one SQL statement; no Python rows): it writes
``raw.items``, ``raw.events`` and ``raw.loads`` in the landing schema, as
``recfusion.load.land`` would. Users come back in sessions of about 8 events a few
minutes apart, each user leaning to three of the categories; event types follow a
fixed mix with searches (no item), impressions and clicks on two published runs.
A few rows are broken the way real feeds are: replays of an event (same id, a few
seconds later, another source location) and events naming an unknown item.

``append_events`` lands another batch (a new day, say) under a new load id, so the
same generator drives the incremental tests and benchmarks. Every choice is a
hash of the event's number and the seed, so the same arguments write the same rows.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import duckdb

EVENTS_PER_SESSION = 8
CATEGORIES = 40
START = "2025-01-01"


def shape(n_events: int) -> dict:
    """Users and items for a data set of ``n_events``: about 100 events per user."""
    return {
        "users": max(n_events // 100, 10),
        "items_per_category": max(n_events // 500 // CATEGORIES, 5),
    }


def write_catalogue(con: duckdb.DuckDBPyConnection, n_events: int) -> None:
    per_cat = shape(n_events)["items_per_category"]
    con.execute("create schema if not exists raw")
    con.execute(f"""
        create or replace table raw.items as
        select
            'i' || range as item_id,
            'Item ' || range as title,
            'A thing of category ' || (range // {per_cat}) as description,
            'category ' || (range // {per_cat}) as category,
            'items.csv:' || (range + 2) as source_loc,
            'catalogue' as load_id
        from range({CATEGORIES * per_cat})""")
    con.execute("""
        create table if not exists raw.loads (
            load_id varchar, source varchar, raw_events bigint, landed_events bigint,
            quarantined_events bigint, raw_items bigint, landed_items bigint,
            quarantined_items bigint, loaded_at timestamp)""")
    con.execute("""
        create table if not exists raw.quarantine (
            entity varchar, stage varchar, source_loc varchar, reason varchar,
            record varchar, load_id varchar)""")


def events_sql(
    first: int, count: int, first_day: int, days: int, n_events: int, load_id: str, seed: int
) -> str:
    """SELECT of ``count`` events numbered from ``first``, over ``days`` days from ``first_day``."""
    sizes = shape(n_events)
    users, per_cat = sizes["users"], sizes["items_per_category"]
    return f"""
    with numbered as (
        select range as i, range // {EVENTS_PER_SESSION} as s
        from range({first}, {first + count})
    ),
    placed as (
        select
            i, s,
            hash(s, {seed}, 1) % {users} as u,
            timestamp '{START}'
                + to_days(cast({first_day} + hash(s, {seed}, 2) % {days} as integer))
                + to_seconds(cast(hash(s, {seed}, 3) % 86000
                    + (i % {EVENTS_PER_SESSION}) * (30 + hash(i, {seed}, 4) % 300)
                    as bigint)) as ts,
            hash(i, {seed}, 5) % 1000 as kind
        from numbered
    ),
    typed as (
        select
            *,
            case
                when kind < 600 then 'view' when kind < 720 then 'cart'
                when kind < 780 then 'purchase' when kind < 830 then 'rating'
                when kind < 860 then 'search' when kind < 940 then 'impression'
                when kind < 960 then 'click' else 'view'
            end as event_type,
            ((hash(u, {seed}, 6) + hash(s, {seed}, 7) % 3) % {CATEGORIES}) * {per_cat}
                + hash(i, {seed}, 8) % {per_cat} as item_no
        from placed
    ),
    events as (
        select
            'e' || i as event_id,
            'u' || u as user_id,
            case
                when event_type = 'search' then null
                when hash(i, {seed}, 9) % 2000 = 0 then 'unknown-' || i
                else 'i' || item_no
            end as item_id,
            event_type,
            ts as event_ts,
            case when event_type = 'rating' then 1 + hash(i, {seed}, 10) % 5 end::double
                as rating,
            case when event_type = 'search' then 'category ' || (item_no // {per_cat}) end
                as query,
            case when event_type in ('impression', 'click')
                then 'run-' || (1 + s % 2) end as rec_run_id,
            case when event_type in ('impression', 'click') then 1 + s % 2 end::bigint
                as model_version,
            'events.csv:' || i as source_loc,
            '{load_id}' as load_id
        from typed
    )
    select * from events
    union all
    -- replays: the same event delivered again a few seconds later
    select
        event_id, user_id, item_id, event_type, event_ts + interval 5 second, rating,
        query, rec_run_id, model_version, 'replay.csv:' || substr(event_id, 2), load_id
    from events
    where hash(event_id, {seed}, 11) % 1000 = 0
    """


def record_load(con, load_id: str) -> None:
    """Write the raw.loads row of ``load_id`` from the rows it has in raw.events."""
    con.execute("delete from raw.loads where load_id = ?", [load_id])
    con.execute(
        """insert into raw.loads
           select ?, 'generated', count(*), count(*), 0,
                  (select count(*) from raw.items), (select count(*) from raw.items), 0,
                  now()::timestamp
           from raw.events where load_id = ?""",
        [load_id, load_id],
    )


def write_events(
    con: duckdb.DuckDBPyConnection, n_events: int, days: int = 365, seed: int = 0
) -> None:
    """Replace the raw tables with ``n_events`` events over ``days`` days, in time order."""
    write_catalogue(con, n_events)
    sql = events_sql(0, n_events, 0, days, n_events, "load-0", seed)
    con.execute(f"create or replace table raw.events as select * from ({sql}) order by event_ts")
    con.execute("delete from raw.loads")
    record_load(con, "load-0")


def append_events(
    con: duckdb.DuckDBPyConnection,
    n_events: int,
    first: int,
    count: int,
    first_day: int,
    days: int,
    load_id: str,
    seed: int = 0,
) -> None:
    """Land ``count`` more events (numbered from ``first``) as load ``load_id``."""
    sql = events_sql(first, count, first_day, days, n_events, load_id, seed)
    con.execute(f"insert into raw.events select * from ({sql}) order by event_ts")
    record_load(con, load_id)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("warehouse", type=Path)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--days", type=int, default=365)
    args = parser.parse_args()
    start = time.perf_counter()
    with duckdb.connect(str(args.warehouse)) as con:
        write_events(con, args.events, args.days)
        n = con.execute("select count(*) from raw.events").fetchone()[0]
    print(f"{n} raw events in {args.warehouse} ({time.perf_counter() - start:.1f}s)")


if __name__ == "__main__":
    main()
