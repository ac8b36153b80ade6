"""Privacy: keyed pseudonyms at landing, and forgetting a user everywhere, for good.

One keyed run of the real pipeline on small generated data is shared by the module; the
forget test then erases a user from it and runs the pipeline's stages again on the same
source file to show the user does not come back.
"""

from __future__ import annotations

import json
import secrets

import duckdb
import pandas as pd
import pytest

from recfusion import pipeline
from recfusion.cli import main
from recfusion.load import clean_events
from recfusion.privacy import KEY_ENV, forget_hash, pseudonymise
from recfusion.publish import content_checksum, current, versions
from tests.conftest import small_settings

KEY = "k-" + secrets.token_hex(16)


@pytest.fixture(scope="module")
def keyed_run(tmp_path_factory):
    """A whole keyed run, then a second publication (top 4) so two snapshots hold users."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(KEY_ENV, KEY)
        settings = small_settings(tmp_path_factory.mktemp("privacy") / "home")
        summaries = pipeline.run_all(settings)
        fewer = small_settings(settings.home, top_k=4)
        pipeline.score(fewer)
        assert pipeline.publish(fewer)["version"] == 2
        yield settings, summaries


def source_user_ids(settings) -> set[str]:
    events = pd.read_csv(settings.home / "sources" / "synthetic" / "events.csv", dtype=str)
    return set(events["user_id"].dropna().str.strip()) - {""}


def user_columns(con, include_views: bool = True) -> list[tuple[str, str]]:
    kinds = "('BASE TABLE', 'VIEW')" if include_views else "('BASE TABLE')"
    return con.execute(f"""
        select c.table_schema || '.' || c.table_name, c.column_name
        from information_schema.columns c join information_schema.tables t
          using (table_catalog, table_schema, table_name)
        where t.table_type in {kinds} and c.column_name like '%user_id'
        order by 1""").fetchall()


def user_rows(settings, user: str) -> dict[str, int]:
    """Rows of ``user`` in every table and view with a user column, in raw.quarantine's
    recorded rows, and in every published snapshot."""
    found = {}
    with duckdb.connect(str(settings.warehouse), read_only=True) as con:
        for table, column in user_columns(con):
            found[table] = con.execute(
                f'select count(*) from {table} where "{column}" = ?', [user]
            ).fetchone()[0]
        found["raw.quarantine"] = con.execute(
            "select count(*) from raw.quarantine"
            " where json_extract_string(record, '$.user_id') = ?",
            [user],
        ).fetchone()[0]
    for version in versions(settings):
        frame = pd.read_parquet(
            settings.published_dir
            / "recommendations"
            / f"version={version}"
            / "recommendations.parquet"
        )
        found[f"version={version}"] = int((frame["user_id"] == user).sum())
    return found


def test_no_raw_user_id_is_landed_quarantined_published_or_logged(keyed_run):
    settings, _ = keyed_run
    raw_ids = source_user_ids(settings)
    assert len(raw_ids) == 60
    with duckdb.connect(str(settings.warehouse), read_only=True) as con:
        columns = user_columns(con)
        assert {"raw.events", "staging.stg_landing__events_flagged", "main.recommendations"} <= {
            t for t, _ in columns
        }
        for table, column in columns:
            stored = {
                r[0] for r in con.execute(f'select distinct "{column}" from {table}').fetchall()
            }
            assert stored and not stored & raw_ids, table
            assert all(u.startswith("p_") and len(u) == 34 for u in stored), table
        records = [
            json.loads(r[0])
            for r in con.execute(
                "select record from raw.quarantine where entity = 'events'"
            ).fetchall()
        ]
    with_user = [r for r in records if r.get("user_id")]
    assert with_user, "the generated data quarantines rows that carry a user id"
    for record in records:
        assert not set(map(str, record.values())) & raw_ids
    assert all(r["user_id"].startswith("p_") for r in with_user)
    published = pd.read_parquet(current(settings)["path"])
    assert not set(published["user_id"]) & raw_ids

    from mlflow.tracking import MlflowClient

    client = MlflowClient(settings.tracking_uri)
    runs = client.search_runs([client.get_experiment_by_name("recfusion").experiment_id])
    assert runs
    for run in runs:
        logged = " ".join([*run.data.params.values(), *run.data.tags.values()])
        assert KEY not in logged
        assert not {w for w in logged.split() if w in raw_ids}


def test_recommend_takes_the_source_id_and_hashes_it(keyed_run, capsys):
    settings, _ = keyed_run
    raw_id = sorted(source_user_ids(settings))[-1]
    home = ["--home", str(settings.home)]
    assert main([*home, "recommend", raw_id, "-n", "3"]) == 0
    assert len(capsys.readouterr().out.strip().splitlines()) == 3
    pseudonym = pseudonymise(raw_id, KEY.encode())
    assert main([*home, "recommend", "--pseudonymised", pseudonym, "-n", "2"]) == 0
    assert len(capsys.readouterr().out.strip().splitlines()) == 2


def test_pseudonyms_are_deterministic_and_keyed(keyed_run, tmp_path, monkeypatch):
    settings, summaries = keyed_run
    raw_ids = source_user_ids(settings)
    expected = {pseudonymise(u, KEY.encode()) for u in raw_ids}

    def landed(home):
        s = small_settings(home)
        summary = pipeline.ingest(s)
        with duckdb.connect(str(s.warehouse), read_only=True) as con:
            ids = {r[0] for r in con.execute("select distinct user_id from raw.events").fetchall()}
        return summary["load_id"], ids

    load_id, ids = landed(tmp_path / "same")  # same key, same file, another warehouse
    assert ids <= expected and len(ids) == len(raw_ids)
    with duckdb.connect(str(settings.warehouse), read_only=True) as con:
        first = {r[0] for r in con.execute("select distinct user_id from raw.events").fetchall()}
    assert ids == first and load_id == summaries["ingest"]["load_id"]

    monkeypatch.setenv(KEY_ENV, KEY + "-other")
    other_load, other_ids = landed(tmp_path / "other")
    assert len(other_ids) == len(ids) and not other_ids & ids and not other_ids & raw_ids
    assert other_load != load_id  # staging must not take these rows for the earlier load

    monkeypatch.delenv(KEY_ENV)
    _, plain = landed(tmp_path / "plain")
    assert plain == raw_ids


def test_quarantined_rows_carry_the_pseudonym_of_the_id_as_given():
    def pseudo(u):
        return pseudonymise(u, b"secret")

    frame = pd.DataFrame(
        {
            "event_id": ["e1", "e2", "e3", "e4"],
            "user_id": [" 17 ", "17", "ab", "17"],
            "item_id": ["5", "5", "5", "5"],
            "event_type": ["view", "view", "view", "view"],
            "event_ts": ["2025-01-01T00:00:00", "not a time", "2025-01-01", "2025-01-02"],
            "rating": ["", "", "", ""],
            "query": ["", "", "", ""],
            "source_loc": ["f:1", "f:2", "f:3", "f:4"],
        }
    )
    now = pd.Timestamp("2026-01-01", tz="UTC")
    clean, quarantined = clean_events(frame, now=now, numeric_ids=True, pseudo=pseudo)
    # the id is checked as the source gave it: a non-numeric one is still caught
    assert dict(zip(quarantined["source_loc"], quarantined["reason"], strict=True)) == {
        "f:2": "unparseable_timestamp",
        "f:3": "non_numeric_id",
    }
    assert set(clean["user_id"]) == {pseudo("17")}
    records = [json.loads(r) for r in quarantined["record"]]
    assert [r["user_id"] for r in records] == [pseudo("17"), pseudo("ab")]
    assert all(r["event_ts"] for r in records)  # the rest of the row is kept for review
    plain, _ = clean_events(frame, now=now, numeric_ids=True)
    assert set(plain["user_id"]) == {"17"}


def check_publication_consistent(settings) -> None:
    """Every snapshot's metadata, the runs table and the pointer agree with the files."""
    folder = settings.published_dir / "recommendations"
    with duckdb.connect(str(settings.warehouse), read_only=True) as con:
        runs = con.execute(
            "select version, rows, users, checksum from main.recommendation_runs"
        ).fetchall()
        live = con.execute("select * from main.recommendations").df()
    metas = {}
    for version in versions(settings):
        frame = pd.read_parquet(folder / f"version={version}" / "recommendations.parquet")
        meta = json.loads((folder / f"version={version}" / "snapshot.json").read_text())
        assert meta["rows"] == len(frame) and meta["users"] == frame["user_id"].nunique()
        assert meta["checksum"] == content_checksum(frame)
        metas[version] = meta
    for version, rows, users, checksum in runs:
        assert (rows, users, checksum) == tuple(
            metas[version][k] for k in ("rows", "users", "checksum")
        )
    pointer = current(settings)
    assert pointer == metas[pointer["version"]]
    assert content_checksum(live) == pointer["checksum"]
    assert not list(settings.published_dir.rglob(".*.tmp"))


def test_forget_erases_the_user_everywhere_and_a_later_run_does_not_bring_them_back(
    keyed_run, capsys
):
    settings, _ = keyed_run
    by_pseudonym = {pseudonymise(u, KEY.encode()): u for u in source_user_ids(settings)}
    with duckdb.connect(str(settings.warehouse), read_only=True) as con:
        quarantined = con.execute(
            "select json_extract_string(record, '$.user_id') from raw.quarantine "
            "where json_extract_string(record, '$.user_id') like 'p_%'"
        ).fetchall()
        # a user with quarantined rows too, so every kind of place holds them
        published = {
            r[0] for r in con.execute("select user_id from main.recommendations").fetchall()
        }
    candidates = sorted({r[0] for r in quarantined} & published)
    assert candidates
    user = candidates[0]
    raw_id = by_pseudonym[user]
    before = user_rows(settings, user)
    held = {place for place, n in before.items() if n}
    assert {
        "raw.events",
        "raw.quarantine",
        "staging.stg_landing__events_flagged",
        "intermediate.int_sessions_grouped",
        "marts.fct_user_item_splits",
        "main.recommendations",
        "version=1",
        "version=2",
    } <= held

    assert user.encode() in settings.warehouse.read_bytes()  # stored as plain bytes

    assert main(["--home", str(settings.home), "forget", raw_id]) == 0
    out = capsys.readouterr().out
    assert "no deleted rows are left" in out
    assert raw_id not in out and user not in out
    assert "raw.events" in out and "published version=1" in out and "published version=2" in out

    after = user_rows(settings, user)
    assert after == dict.fromkeys(after, 0), {k: v for k, v in after.items() if v}
    # deleted, not just hidden: no bytes of the pseudonym left in the files
    for path in [settings.warehouse, *settings.published_dir.rglob("*.parquet")]:
        assert user.encode() not in path.read_bytes(), path
    check_publication_consistent(settings)
    with duckdb.connect(str(settings.warehouse), read_only=True) as con:
        forgotten = con.execute("select user_hash from main.forgotten_users").fetchall()
        # landing's counts lost the erased rows too (the dbt conservation test relies on it)
        raw_events, landed, quarantined_n = con.execute(
            "select raw_events, landed_events, quarantined_events from raw.loads"
        ).fetchone()
        assert landed == con.execute("select count(*) from raw.events").fetchone()[0]
    assert forgotten == [(forget_hash(user),)]
    assert raw_events == landed + quarantined_n

    # again, by pseudonym: nothing left to remove, nothing breaks, one record
    assert main(["--home", str(settings.home), "forget", "--pseudonymised", user]) == 0
    assert "no rows held" in capsys.readouterr().out
    with duckdb.connect(str(settings.warehouse), read_only=True) as con:
        assert con.execute("select count(*) from main.forgotten_users").fetchone()[0] == 1

    # a later run reads the same source file: landing drops the user, dbt's tests pass
    assert (
        pipeline.ingest(settings)["forgotten_events"]
        == before["raw.events"] + before["raw.quarantine"]
    )
    pipeline.transform(settings)
    pipeline.score(settings)
    pipeline.validate_recommendations(settings)
    pipeline.publish(settings)
    after_rerun = user_rows(settings, user)
    assert after_rerun == dict.fromkeys(after_rerun, 0)
    check_publication_consistent(settings)
    assert len(read_current_users(settings)) == len(by_pseudonym) - 1


def test_forget_finishes_what_a_killed_forget_left(keyed_run):
    """A forget killed after rewriting a snapshot file but before its metadata: the next
    forget finds the user gone from the file and still repairs the metadata."""
    from recfusion.privacy import _atomic_write_parquet, forget

    settings, _ = keyed_run
    user = sorted(read_current_users(settings))[0]
    target = settings.published_dir / "recommendations" / f"version={current(settings)['version']}"
    frame = pd.read_parquet(target / "recommendations.parquet")
    _atomic_write_parquet(frame[frame["user_id"] != user], target / "recommendations.parquet")
    with pytest.raises(AssertionError):
        check_publication_consistent(settings)
    result = forget(settings, user, pseudonymised=True)
    assert "raw.events" in result["removed"]
    check_publication_consistent(settings)
    assert not any(user_rows(settings, user).values())


def read_current_users(settings) -> set[str]:
    return set(pd.read_parquet(current(settings)["path"])["user_id"])


def test_the_key_is_stored_nowhere(keyed_run):
    settings, _ = keyed_run
    key = KEY.encode()
    for path in settings.home.rglob("*"):
        if path.is_file():
            assert key not in path.read_bytes(), path
    with duckdb.connect(str(settings.warehouse), read_only=True) as con:
        text_columns = con.execute("""select table_schema || '.' || table_name, column_name
            from information_schema.columns where data_type = 'VARCHAR'""").fetchall()
        for table, column in text_columns:
            hits = con.execute(
                f'select count(*) from {table} where contains("{column}", ?)', [KEY]
            ).fetchone()[0]
            assert hits == 0, (table, column)
