"""Pseudonymous user ids and the right to be forgotten.

The key comes from the environment variable ``RECFUSION_PSEUDONYM_KEY`` and only from
there: it is not a field of ``Settings``, so it never reaches a settings dump, MLflow's
params or the warehouse. With a key, landing replaces every user id by
``p_`` + the first 32 hex digits of HMAC-SHA256(key, id) before anything is written; the
same key gives the same pseudonym on every run. Without a key ids are kept as they are.

``forget`` erases one user: raw and quarantined rows, every warehouse table with a user id
column, and the user's rows in every published snapshot. It records a hash of the user's
stored id in ``main.forgotten_users`` so that landing drops the user's rows when the same
source is loaded again.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import os
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pandas as pd

from recfusion.warehouse import connect, table_exists, writer_lock

log = logging.getLogger(__name__)

KEY_ENV = "RECFUSION_PSEUDONYM_KEY"
PREFIX = "p_"
HEX_DIGITS = 32  # 128 bits of the HMAC

Pseudonymiser = Callable[[str], str]


def pseudonym_key() -> bytes | None:
    """The key from the environment, or None when it is unset or blank."""
    value = os.environ.get(KEY_ENV, "")
    return value.encode() if value.strip() else None


def pseudonymise(user_id: str, key: bytes) -> str:
    digest = hmac.new(key, user_id.encode(), hashlib.sha256).hexdigest()
    return PREFIX + digest[:HEX_DIGITS]


def pseudonymiser() -> Pseudonymiser | None:
    """A function from a user id to its pseudonym under the current key; None without one."""
    key = pseudonym_key()
    if key is None:
        return None
    return lambda user_id: pseudonymise(user_id, key)


def key_fingerprint() -> str:
    """Names the key without revealing it (an HMAC of a fixed text); empty without a key."""
    key = pseudonym_key()
    return pseudonymise("recfusion-key-fingerprint", key) if key else ""


def map_ids(values: pd.Series, pseudo: Pseudonymiser | None) -> pd.Series:
    """Pseudonymise the non-empty ids of ``values`` (stripped); empty and missing stay so."""
    if pseudo is None:
        return values
    text = values.astype("string").str.strip()
    present = text.notna() & (text != "")
    mapping = {u: pseudo(u) for u in text[present].unique()}
    return values.astype("string").where(~present, text.map(mapping))


def forget_hash(stored_id: str) -> str:
    """What ``main.forgotten_users`` keeps: a hash of the id as the warehouse stores it."""
    return hashlib.sha256(f"recfusion-forgotten:{stored_id}".encode()).hexdigest()


def forgotten_hashes(con) -> set[str]:
    if not table_exists(con, "main", "forgotten_users"):
        return set()
    return {row[0] for row in con.execute("select user_hash from main.forgotten_users").fetchall()}


def drop_forgotten(
    events: pd.DataFrame, forgotten: set[str], pseudo: Pseudonymiser | None
) -> tuple[pd.DataFrame, int]:
    """Raw event rows without those of forgotten users, and how many were dropped."""
    if not forgotten or events.empty:
        return events, 0
    stored = map_ids(events["user_id"], pseudo).astype("string").str.strip()
    hashes = {u: forget_hash(u) for u in stored.dropna().unique()}
    gone = stored.map(hashes).isin(forgotten).fillna(False).astype(bool)
    return events[~gone], int(gone.sum())


def stored_id(user_id: str, pseudonymised: bool = False) -> str:
    """The id as the warehouse holds it: hashed under the key unless already a pseudonym."""
    user_id = user_id.strip()
    key = pseudonym_key()
    if pseudonymised or key is None:
        if pseudonymised and key is None:
            log.warning("--pseudonymised without %s set: using the id as given", KEY_ENV)
        return user_id
    return pseudonymise(user_id, key)


def _user_tables(con) -> list[tuple[str, str, str]]:
    """Every base table (schema, table, column) with a user id column, from the catalogue."""
    rows = con.execute("""
        select c.table_schema, c.table_name, c.column_name
        from information_schema.columns c
        join information_schema.tables t
          on t.table_catalog = c.table_catalog
         and t.table_schema = c.table_schema
         and t.table_name = c.table_name
        where t.table_type = 'BASE TABLE'
          and c.table_catalog = current_database()
          and (lower(c.column_name) = 'user_id' or suffix(lower(c.column_name), '_user_id'))
        order by 1, 2, 3""").fetchall()
    return [tuple(r) for r in rows]


def _erase_warehouse(con, user: str, user_hash: str) -> dict[str, int]:
    """Record the erasure and delete the user's rows, all in one transaction."""
    removed: dict[str, int] = {}
    con.execute("begin")
    con.execute("""create table if not exists main.forgotten_users (
                     user_hash varchar primary key, forgotten_at timestamp)""")
    con.execute(
        "insert or ignore into main.forgotten_users values (?, ?)",
        [user_hash, datetime.now(UTC).replace(tzinfo=None)],
    )
    # raw.loads counts the rows of each load: take the erased rows off them, so that the
    # conservation checks (raw = landed + quarantined) still hold
    per_load: dict[str, list[int]] = {}
    if table_exists(con, "raw", "events"):
        for load_id, n in con.execute(
            "select load_id, count(*) from raw.events where user_id = ? group by load_id", [user]
        ).fetchall():
            per_load.setdefault(load_id, [0, 0])[0] += n
    if table_exists(con, "raw", "quarantine"):
        quarantined = """entity = 'events'
            and trim(json_extract_string(record, '$.user_id')) = ?"""
        for load_id, n in con.execute(
            f"select load_id, count(*) from raw.quarantine where {quarantined} group by load_id",
            [user],
        ).fetchall():
            per_load.setdefault(load_id, [0, 0])[1] += n
        n = con.execute(f"delete from raw.quarantine where {quarantined}", [user]).fetchone()[0]
        if n:
            removed["raw.quarantine"] = n
    if per_load and table_exists(con, "raw", "loads"):
        for load_id, (landed, quarantined_n) in per_load.items():
            con.execute(
                """update raw.loads set raw_events = raw_events - ?,
                   landed_events = landed_events - ?, quarantined_events = quarantined_events - ?
                   where load_id = ?""",
                [landed + quarantined_n, landed, quarantined_n, load_id],
            )
    for schema, table, column in _user_tables(con):
        n = con.execute(
            f'delete from "{schema}"."{table}" where "{column}" = ?', [user]
        ).fetchone()[0]
        if n:
            name = f"{schema}.{table}"
            removed[name] = removed.get(name, 0) + n
    con.execute("commit")
    con.execute("checkpoint")
    return removed


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def compact(warehouse: Path) -> bool:
    """Rewrite the warehouse file so that deleted rows leave no bytes behind.

    DuckDB marks deleted rows and keeps their blocks until it reuses them; copying the
    database into a fresh file and renaming it over the old one leaves only live rows.
    The caller holds the writer lock. Returns False (and changes nothing) where DuckDB
    left a write-ahead log that the new file would wrongly replay.
    """
    tmp = warehouse.with_name(f".{warehouse.stem}.compact.duckdb")
    for stale in (tmp, tmp.with_name(tmp.name + ".wal")):
        stale.unlink(missing_ok=True)
    con = duckdb.connect(str(warehouse))
    try:
        name = con.execute("select current_database()").fetchone()[0]
        target = str(tmp).replace("'", "''")
        con.execute(f"attach '{target}' as recfusion_compact")
        con.execute(f'copy from database "{name}" to recfusion_compact')
        con.execute("detach recfusion_compact")
    finally:
        con.close()
    if warehouse.with_name(warehouse.name + ".wal").exists():
        log.warning("%s: write-ahead log present; warehouse not compacted", warehouse)
        tmp.unlink(missing_ok=True)
        return False
    with tmp.open("rb") as fh:
        os.fsync(fh.fileno())
    os.replace(tmp, warehouse)
    _fsync_dir(warehouse.parent)
    return True


def _atomic_write_parquet(frame: pd.DataFrame, target: Path) -> None:
    tmp = target.with_name(f".{target.name}.tmp")
    frame.to_parquet(tmp, index=False)
    with tmp.open("rb") as fh:
        os.fsync(fh.fileno())
    os.replace(tmp, target)
    _fsync_dir(target.parent)


def _erase_snapshots(settings, user: str) -> tuple[dict[str, int], dict[int, dict]]:
    """Rewrite every snapshot holding the user; return rows removed and each snapshot's
    metadata as it now is (rows, users and checksum recomputed where they changed).

    A snapshot whose ``snapshot.json`` no longer matches its file (a forget killed between
    the two writes) is repaired here too, so forgetting again finishes the job."""
    from recfusion.publish import _atomic_write_json, _snapshot_dir, content_checksum, versions

    removed: dict[str, int] = {}
    metas: dict[int, dict] = {}
    for version in versions(settings):
        folder = _snapshot_dir(settings) / f"version={version}"
        target = folder / "recommendations.parquet"
        meta_file = folder / "snapshot.json"
        meta = json.loads(meta_file.read_text())
        frame = pd.read_parquet(target)
        mine = frame["user_id"].astype("string") == user
        if mine.any():
            frame = frame[~mine.fillna(False)].reset_index(drop=True)
            _atomic_write_parquet(frame, target)
            removed[f"published version={version}"] = int(mine.sum())
        fixed = {
            **meta,
            "rows": len(frame),
            "users": int(frame["user_id"].nunique()),
            "checksum": content_checksum(frame),
        }
        if fixed != meta:
            _atomic_write_json(meta_file, fixed)
        metas[version] = fixed
    return removed, metas


def _sync_publication_records(settings, metas: dict[int, dict]) -> None:
    """Bring ``main.recommendation_runs`` and ``CURRENT.json`` in line with the snapshots."""
    from recfusion.publish import _atomic_write_json, current

    if not metas:
        return
    with connect(settings.warehouse) as con:
        if table_exists(con, "main", "recommendation_runs"):
            con.execute("begin")
            for version, meta in metas.items():
                con.execute(
                    """update main.recommendation_runs set rows = ?, users = ?, checksum = ?
                       where version = ?""",
                    [meta["rows"], meta["users"], meta["checksum"], version],
                )
            con.execute("commit")
    now = current(settings)
    if now is not None and now["version"] in metas and metas[now["version"]] != now:
        _atomic_write_json(settings.published_dir / "CURRENT.json", metas[now["version"]])


def _mentions(settings, user: str) -> list[str]:
    """Validation results and data docs that still name the user (a failed expectation
    lists sample values); forget reports them rather than editing Great Expectations' files."""
    folder = settings.home / "gx" / "uncommitted"
    needle = user.encode()
    return sorted(
        str(p)
        for p in (folder.rglob("*") if folder.exists() else [])
        if p.is_file() and p.suffix in (".json", ".html") and needle in p.read_bytes()
    )


def forget(
    settings, user_id: str, pseudonymised: bool = False, compact_warehouse: bool = True
) -> dict:
    """Erase one user everywhere recfusion keeps user rows; safe to repeat.

    ``user_id`` is the source's id, hashed under the key when one is set, or (with
    ``pseudonymised``) the pseudonym itself. Returns the rows removed per table or snapshot,
    and files outside the warehouse and snapshots that still mention the user.
    ``compact_warehouse`` rewrites the warehouse file afterwards so the deleted rows are gone
    from disk too (a copy of the whole database: turn it off to forget many users, then
    compact once).
    """
    from recfusion.publish import recover

    user = stored_id(user_id, pseudonymised)
    if not user:
        raise ValueError("an empty user id names no user")
    user_hash = forget_hash(user)
    settings.published_dir.mkdir(parents=True, exist_ok=True)
    # the publisher's lock first, then the warehouse's: the order publish takes them in
    with writer_lock(settings.published_dir / "publisher"):
        recover(settings)
        with writer_lock(settings.warehouse):
            con = duckdb.connect(str(settings.warehouse))
            try:
                removed = _erase_warehouse(con, user, user_hash)
            finally:
                con.close()
            compacted = compact(settings.warehouse) if compact_warehouse else False
        snapshot_removed, metas = _erase_snapshots(settings, user)
        _sync_publication_records(settings, metas)
    removed.update(snapshot_removed)
    log.info("forgot user %s: %s", user_hash[:12], removed or "no rows held")
    return {
        "user_hash": user_hash,
        "removed": removed,
        "compacted": compacted,
        "still_mentioned_in": _mentions(settings, user),
    }
