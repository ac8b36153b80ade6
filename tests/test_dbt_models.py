"""The dbt models for real: incremental runs against full refreshes, backfills, as_of,
point-in-time training examples and click-through, on small generated data.

Each test writes ``raw.*`` with the benchmark generator (DuckDB SQL, a second or less)
and runs ``dbt build`` in a child process, as the pipeline does.
"""

from __future__ import annotations

import shutil

import duckdb
import numpy as np
import pandas as pd

from benchmarks.generate_events import append_events, record_load, write_events
from recfusion import cli, transform
from tests.conftest import small_settings

N_EVENTS = 30_000  # about 300 users, 20 days
DAYS = 20
DAY_BATCH = N_EVENTS // 100  # an incremental day: 1% more events
SCHEMAS = ("staging", "intermediate", "marts")
BOOKKEEPING = {
    "staged_at",
    "changed_at",
    "built_at",
}  # when a row was written: differs between runs by design
USER_GRAIN = (  # incremental by user: a run rebuilds the users with newly staged events
    "intermediate.int_user_items_aggregated",
    "intermediate.int_recent_events_ranked",
    "intermediate.int_user_short_term_summarised",
    "marts.user_short_term_category_mix",
    "marts.fct_user_item_splits",
    "marts.fct_training_examples",
)


def _generated(home, n_events=N_EVENTS, days=DAYS):
    settings = small_settings(home)
    settings.home.mkdir(parents=True, exist_ok=True)
    with duckdb.connect(str(settings.warehouse)) as con:
        write_events(con, n_events, days=days)
    return settings


def _query(settings, sql: str) -> pd.DataFrame:
    with duckdb.connect(str(settings.warehouse), read_only=True) as con:
        return con.execute(sql).df()


def _table(con, schema: str, name: str) -> pd.DataFrame:
    """The table's rows in a canonical order, bookkeeping columns left out, lists as text."""
    columns = con.execute(
        "select column_name, data_type from information_schema.columns"
        " where table_schema = ? and table_name = ? order by ordinal_position",
        [schema, name],
    ).fetchall()
    select = []
    for column, dtype in columns:
        if column in BOOKKEEPING:
            continue
        select.append(f'cast("{column}" as varchar)' if dtype.endswith("[]") else f'"{column}"')
    frame = con.execute(f"select {', '.join(select)} from {schema}.{name}").df()
    floats = frame.select_dtypes("float").columns
    order = frame.copy()
    order[floats] = order[floats].round(6)
    return frame.loc[order.sort_values(list(order.columns)).index].reset_index(drop=True)


def _tables(settings) -> dict[str, pd.DataFrame]:
    with duckdb.connect(str(settings.warehouse), read_only=True) as con:
        names = con.execute(
            "select table_schema, table_name from information_schema.tables"
            f" where table_schema in {SCHEMAS} order by 1, 2"
        ).fetchall()
        return {f"{s}.{n}": _table(con, s, n) for s, n in names}


def _assert_same_tables(got: dict, expected: dict) -> None:
    assert sorted(got) == sorted(expected)
    for name, frame in expected.items():
        assert len(got[name]) == len(frame), f"{name}: {len(got[name])} rows, not {len(frame)}"
        pd.testing.assert_frame_equal(got[name], frame, rtol=1e-9, obj=name)


def _copy(settings, home):
    other = small_settings(home)
    other.home.mkdir(parents=True, exist_ok=True)
    shutil.copy(settings.warehouse, other.warehouse)
    return other


def test_incremental_runs_give_the_tables_of_a_full_refresh(tmp_path):
    settings = _generated(tmp_path / "incremental")
    transform.build(settings)
    first_run = _query(
        settings, "select max(staged_at) as t from staging.stg_landing__events_flagged"
    )
    with duckdb.connect(str(settings.warehouse)) as con:
        # the next day: 1% more events
        append_events(con, N_EVENTS, N_EVENTS, DAY_BATCH, DAYS, 1, "load-1")
    transform.build(settings)
    with duckdb.connect(str(settings.warehouse)) as con:
        # late events over earlier days, earlier copies of events staged long ago (the
        # staged copy becomes the replay), and an unknown item joining the catalogue
        append_events(con, N_EVENTS, N_EVENTS + DAY_BATCH, DAY_BATCH, 5, 10, "load-2")
        con.execute("""
            insert into raw.events
            select event_id, user_id, item_id, event_type, event_ts - interval 1 hour,
                   rating, query, rec_run_id, model_version,
                   'late-copy.csv:' || event_id, 'load-2'
            from raw.events
            where load_id = 'load-0' and cast(event_ts as date) = '2025-01-03'
              and hash(event_id) % 20 = 0""")
        record_load(con, "load-2")
        con.execute("""
            insert into raw.items
            select item_id, 'Found later', '', 'category 0', 'items2.csv:2', 'catalogue'
            from raw.events where item_id like 'unknown-%' order by item_id limit 1""")
    transform.build(settings)

    staged = _query(
        settings,
        "select event_date, min(staged_at) as first, max(staged_at) as last"
        " from staging.stg_landing__events_flagged group by event_date",
    )
    untouched = staged[staged["last"] == first_run["t"].iloc[0]]
    assert 0 < len(untouched) < len(staged), "incremental runs should rebuild only some days"
    for table in USER_GRAIN:
        users = _query(
            settings, f"select user_id, max(built_at) as built from {table} group by user_id"
        )
        kept = (users["built"] == first_run["t"].iloc[0]).sum()
        assert 0 < kept < len(users), f"{table}: incremental runs should rebuild only some users"
    reasons = _query(
        settings,
        "select reason, count(*) as n from staging.stg_landing__events_quarantine group by 1",
    ).set_index("reason")["n"]
    assert reasons["duplicate_event_id"] > 0 and reasons["unknown_item"] > 0

    full = _copy(settings, tmp_path / "full")
    transform.build(full, full_refresh=True)
    # floats to 1e-9 relative (1e-8 absolute near zero, pandas' default): decayed and
    # alpha(t) sums reach as_of by other routes (other buckets, other anchors) after
    # incremental runs than after a full refresh; other columns must match exactly
    _assert_same_tables(_tables(settings), _tables(full))
    _assert_alpha_is_exact(settings)


def _assert_alpha_is_exact(settings) -> None:
    """The long-term alpha(t) affinity (a Taylor series over daily moments) equals the
    plain sum over events, to 1e-9 relative."""
    k = settings.interests.alpha_k
    got = _query(
        settings,
        f"""select m.user_id, m.category, m.alpha_affinity, e.alpha_affinity as exact
           from marts.user_long_term_interests as m
           join (select user_id, category,
                        sum(weight / (1 + exp(-{k} * (epoch(a.as_of) - epoch(event_ts))
                                                / 86400.0))) as alpha_affinity
                 from intermediate.int_events_weighted
                 cross join (select max(as_of) as as_of
                             from marts.user_long_term_interests) as a
                 where event_ts <= a.as_of
                 group by 1, 2) as e using (user_id, category)""",
    )
    assert len(got) > 100
    assert np.allclose(got["alpha_affinity"], got["exact"], rtol=1e-9, atol=0)


def test_backfill_rebuilds_a_date_range(tmp_path, monkeypatch):
    settings = _generated(tmp_path / "backfill")
    transform.build(settings)
    # sessions depend on the gap; an incremental run with a new gap leaves old days alone,
    # and a backfill (here through the CLI, as docs/dbt.md shows) rebuilds its range
    monkeypatch.setenv("RECFUSION_INTERESTS__SESSION_GAP_MINUTES", "2")
    command = ["--home", str(settings.home), "transform", "--backfill", "2025-01-03", "2025-01-05"]
    assert cli.main(command) == 0
    sessions = _query(
        settings,
        "select session_date, count(distinct staged_at) as runs, count(*) as n"
        " from intermediate.int_sessions_grouped group by 1 order by 1",
    ).set_index("session_date")
    rebuilt = sessions.index.isin(pd.to_datetime(["2025-01-03", "2025-01-04", "2025-01-05"]))
    assert rebuilt.sum() == 3

    reference = _copy(settings, tmp_path / "reference")
    reference.interests.session_gap_minutes = 2
    transform.build(reference, full_refresh=True)
    expected = _query(
        reference,
        "select session_date, count(*) as n from intermediate.int_sessions_grouped"
        " group by 1 order by 1",
    ).set_index("session_date")
    assert (sessions.loc[rebuilt, "n"] == expected.loc[rebuilt, "n"]).all()
    # days outside the range keep their 30-minute sessions: fewer, longer ones
    assert (sessions.loc[~rebuilt, "n"] <= expected.loc[~rebuilt, "n"]).all()
    assert sessions.loc[~rebuilt, "n"].sum() < expected.loc[~rebuilt, "n"].sum() / 2


def test_as_of_ignores_later_events(tmp_path):
    settings = _generated(tmp_path / "as_of")
    as_of = "2025-01-12"
    transform.build(settings, as_of=as_of)
    truncated = _copy(settings, tmp_path / "truncated")
    with duckdb.connect(str(truncated.warehouse)) as con:
        con.execute("delete from raw.events where event_ts > '2025-01-12 23:59:59.999999'")
        con.execute("delete from raw.loads")
        record_load(con, "load-0")
    transform.build(truncated, full_refresh=True, as_of=as_of)
    marts = [
        "marts.user_long_term_interests",
        "marts.user_long_term_item_interests",
        "marts.user_short_term_interests",
        "marts.user_short_term_category_mix",
        "marts.fct_user_item_splits",
        "marts.fct_training_examples",
        "marts.dim_items",
    ]
    got, expected = _tables(settings), _tables(truncated)
    _assert_same_tables({m: got[m] for m in marts}, {m: expected[m] for m in marts})
    last = _query(settings, "select max(last_event_at) as t from marts.user_short_term_interests")
    assert last["t"].iloc[0] <= pd.Timestamp("2025-01-12 23:59:59.999999")

    # the per-user tables were built as of 2025-01-12: an incremental run as of the latest
    # event, with no new events, must rebuild every user (their build signature differs)
    transform.build(settings)
    latest = _copy(settings, tmp_path / "latest")
    transform.build(latest, full_refresh=True)
    _assert_same_tables(_tables(settings), _tables(latest))


FEATURES = [
    "n_prior_items",
    "n_prior_events",
    "last_prior_event_at",
    "seconds_since_prior_event",
    "n_prior_category_events",
    "prior_category_share",
    "prior_category_affinity",
]


def test_training_examples_see_only_earlier_events(tmp_path):
    """Events at or after a target, added later, change none of that example's features."""
    settings = _generated(tmp_path / "pit", n_events=10_000, days=10)
    # a 72-minute half-life cuts the 10 days into epochs of 12.8 days (256 half-lives):
    # the build's leakage test then checks the carry-over between epochs as well
    settings.interests.half_life_days = 0.05
    transform.build(settings)
    before = _query(settings, "select * from marts.fct_training_examples")
    with duckdb.connect(str(settings.warehouse)) as con:
        # for each user, a burst of events in every category at the exact moment of one
        # of their targets and later: ties and the future, the two ways features leak
        con.execute("""
            insert into raw.events
            select 'x' || row_number() over () as event_id, t.user_id, i.item_id,
                   'purchase', t.first_event_at + to_seconds(k.k * 3600), null, null,
                   null, null, 'extra.csv:' || row_number() over (), 'load-1'
            from (select user_id, max(first_event_at) filter (where seq_pos = 3)
                      as first_event_at
                  from marts.fct_user_item_splits group by user_id) as t
            cross join (select min(item_id) as item_id from raw.items
                        group by category) as i
            cross join (select range as k from range(0, 2)) as k
            where t.first_event_at is not null""")
        record_load(con, "load-1")
    transform.build(settings)
    after = _query(settings, "select * from marts.fct_training_examples")
    cutoff = _query(
        settings,
        "select user_id, max(first_event_at) filter (where seq_pos = 3) as cut"
        " from marts.fct_user_item_splits group by user_id",
    )
    merged = before.merge(after, on=["user_id", "item_id"], suffixes=("", "_after"))
    merged = merged.merge(cutoff, on="user_id")
    kept = merged[merged["target_event_at"] <= merged["cut"]]
    assert len(kept) > 100
    for feature in FEATURES:
        a, b = kept[feature], kept[f"{feature}_after"]
        same = (a == b) | (a.isna() & b.isna())
        if a.dtype.kind == "f":
            same |= np.isclose(a, b, rtol=1e-9)
        assert same.all(), f"{feature} changed for {int((~same).sum())} earlier examples"
    # and the examples whose targets came after the burst (and stayed) did see it
    later = merged[
        (merged["target_event_at"] > merged["cut"])
        & (merged["target_event_at"] == merged["target_event_at_after"])
    ]
    assert len(later) > 100
    assert (later["n_prior_events_after"] > later["n_prior_events"]).all()


def test_click_through_per_model_version_and_day_and_docs(tmp_path):
    settings = _generated(tmp_path / "ctr", n_events=10_000, days=5)
    with duckdb.connect(str(settings.warehouse)) as con:
        # run-2's feedback names only the run: its version comes from the publications
        con.execute("update raw.events set model_version = null where rec_run_id = 'run-2'")
        con.execute("""
            create table main.recommendation_runs as
            select 1 as version, 'publish' as action, 'p' as path, 10 as rows, 2 as users,
                   'c' as checksum, 2 as model_version, 'run-2' as run_id,
                   timestamp '2025-01-01' as published_at, now()::timestamp as recorded_at""")
    transform.build(settings)
    mart = _query(settings, "select * from marts.fct_recommendation_ctr_daily")
    expected = _query(
        settings,
        """select event_date, cast(substr(rec_run_id, 5) as integer) as model_version,
                  count(*) filter (where event_type = 'impression') as impressions,
                  count(*) filter (where event_type = 'click') as clicks
           from staging.stg_landing__events where rec_run_id is not null
           group by 1, 2""",
    )
    merged = mart.merge(expected, on=["event_date", "model_version"], suffixes=("", "_raw"))
    assert len(merged) == len(mart) == len(expected) >= 2 * 5  # two versions, five days
    assert (merged["impressions"] == merged["impressions_raw"]).all()
    assert (merged["clicks"] == merged["clicks_raw"]).all()
    assert np.allclose(merged["ctr"], merged["clicks"] / merged["impressions"])

    # the docs site builds from the same warehouse
    transform.run_dbt(settings, "docs generate")
    catalog = settings.home / "dbt" / "target" / "catalog.json"
    assert "model.recfusion.user_short_term_interests" in catalog.read_text()
