"""Scoring with the champion, and publishing that readers never see half-done.

Scores go to ``main.recommendations_candidate`` in the warehouse, where the validation
gate checks them. Publishing then writes a versioned Parquet snapshot
(``published/recommendations/version=N/recommendations.parquet``, written to a temporary
name and renamed), swaps the pointer file ``published/CURRENT.json`` with one rename, and
replaces ``main.recommendations`` and appends ``main.recommendation_runs`` in one
transaction. Readers follow the pointer: they get the old snapshot or the new one whole.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from recfusion import registry
from recfusion.model.data import item_frame, read_interactions, serving_batch
from recfusion.model.train import masked_scores
from recfusion.warehouse import connect, table_exists, writer_lock

log = logging.getLogger(__name__)

COLUMNS = [
    "user_id",
    "rank",
    "item_id",
    "score",
    "reason",
    "model_version",
    "run_id",
    "published_at",
]


def explain(
    history: np.ndarray,
    rec: int,
    gate: float,
    top_categories: set,
    items: pd.DataFrame,
    table: torch.Tensor,
    short_n: int,
) -> str:
    """Why ``rec`` is recommended: the history item or long-term category behind it.

    ``table`` holds the model's normalised item vectors (I + 1, H); ``gate`` is the user's
    weight on the long-term side. A short-term phase (gate < 0.5) names the most similar
    recent item; otherwise a leading long-term category of the user's that the item
    belongs to; otherwise the most similar item from the whole history.
    """
    sims = (table[torch.tensor(history)] @ table[rec]).numpy()  # (n_hist,)
    best = int(np.argmax(sims))
    title = items.at[int(history[best]) - 1, "title"]
    category = items.at[rec - 1, "category"]
    if gate < 0.5 and best >= len(history) - short_n:
        return f"Because you recently looked at '{title}'"
    if category in top_categories:
        return f"Matches your long-standing interest in {category}"
    return f"Similar to '{title}' from your history"


def score(settings) -> dict:
    """Top-K unseen items per user from the champion, with reasons; write the candidate."""
    model, champ = registry.load_champion(settings)
    k = settings.top_k
    with connect(settings.warehouse, read_only=True) as con:
        data = read_interactions(con)
        items = item_frame(con, data)
        long_top = con.execute("""select user_id, list(category order by category_rank)
                                  from marts.user_long_term_interests
                                  where category_rank <= 3 group by user_id""").fetchall()
    long_top = {u: set(c) for u, c in long_top}
    batch = serving_batch(data, settings.train.max_history)
    model.eval()
    with torch.inference_mode():
        table = torch.nn.functional.normalize(model.item_table(), dim=-1)
        gates = model.encode_users(torch.from_numpy(batch.items), torch.from_numpy(batch.ages))[
            1
        ].numpy()
    rows = []
    for sl, scores in masked_scores(model, batch, torch.device("cpu")):
        top = np.argpartition(-scores, k, axis=1)[:, :k]
        for r, cand in enumerate(top):
            g = sl.start + r
            user = data.users[batch.users[g]]
            cand = cand[np.argsort(-scores[r, cand], kind="stable")]
            cand = cand[np.isfinite(scores[r, cand])]  # a user with under k unseen items
            for rank, item in enumerate(cand, start=1):
                reason = explain(
                    batch.seen[g],
                    int(item),
                    float(gates[g]),
                    long_top.get(user, set()),
                    items,
                    table,
                    settings.train.short_n,
                )
                rows.append((user, rank, data.item_ids[item - 1], float(scores[r, item]), reason))
    frame = pd.DataFrame(rows, columns=COLUMNS[:5])
    frame["model_version"] = int(champ.version)
    frame["run_id"] = champ.tags.get("run_id", champ.run_id)
    with connect(settings.warehouse) as con:
        con.register("frame", frame)
        con.execute(
            "create or replace table main.recommendations_candidate as "
            "select * from frame order by user_id, rank"
        )
        con.unregister("frame")
    log.info(
        "scored %d users with champion v%s: %d rows", len(data.users), champ.version, len(frame)
    )
    return {"users": len(data.users), "rows": len(frame), "model_version": int(champ.version)}


def _atomic_write_json(path: Path, payload: dict) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(payload, indent=2))
    with tmp.open("rb") as fh:
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def content_checksum(frame: pd.DataFrame) -> str:
    cols = ["user_id", "rank", "item_id", "score", "reason", "model_version"]
    canon = frame[cols].sort_values(["user_id", "rank"]).round({"score": 6})
    return hashlib.sha256(pd.util.hash_pandas_object(canon, index=False).values).hexdigest()


def current(settings) -> dict | None:
    pointer = settings.published_dir / "CURRENT.json"
    return json.loads(pointer.read_text()) if pointer.exists() else None


def _snapshot_dir(settings) -> Path:
    return settings.published_dir / "recommendations"


def versions(settings) -> list[int]:
    """Every version with a complete snapshot on disk, oldest first."""
    found = []
    for folder in _snapshot_dir(settings).glob("version=*"):
        if (folder / "recommendations.parquet").exists():
            found.append(int(folder.name.split("=", 1)[1]))
    return sorted(found)


def _make_current(settings, record: dict, action: str) -> None:
    """Point the warehouse table and then the pointer file at ``record``'s snapshot."""
    with connect(settings.warehouse) as con:
        con.execute("begin")
        con.execute("""create table if not exists main.recommendation_runs (
                         version integer, action varchar, path varchar, rows bigint,
                         users bigint, checksum varchar, model_version integer,
                         run_id varchar, published_at timestamp, recorded_at timestamp)""")
        con.execute(
            "create or replace table main.recommendations as select * from read_parquet(?)",
            [record["path"]],
        )
        con.execute(
            "insert into main.recommendation_runs values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                record["version"],
                action,
                record["path"],
                record["rows"],
                record["users"],
                record["checksum"],
                record["model_version"],
                record["run_id"],
                record["published_at"],
                datetime.now(UTC).replace(tzinfo=None),
            ],
        )
        con.execute("commit")
    _atomic_write_json(settings.published_dir / "CURRENT.json", record)


def _published_records(settings) -> list[dict]:
    """``main.recommendation_runs``, oldest first: what was published, as the warehouse says."""
    if not settings.warehouse.exists():
        return []
    with connect(settings.warehouse, read_only=True) as con:
        if not table_exists(con, "main", "recommendation_runs"):
            return []
        return (
            con.execute("select * from main.recommendation_runs order by recorded_at")
            .df()
            .to_dict("records")
        )


def recover(settings) -> dict:
    """Finish or clear what a publish or rollback killed halfway left behind.

    The warehouse's ``recommendation_runs`` is the record: a pointer file that lags its
    latest row is brought up to it (the kill came between the two), temporary files are
    removed, and snapshot folders no row names (the kill came before the row) are deleted,
    so no version number is ever taken by an orphan. Readers never followed any of these.
    """
    folder = _snapshot_dir(settings)
    removed = [str(p) for p in settings.published_dir.glob(".*.tmp")]
    removed += [str(p) for p in folder.glob("version=*/.*.tmp")]
    for path in removed:
        Path(path).unlink()
    records = _published_records(settings)
    named = {int(r["version"]) for r in records}
    for snapshot in folder.glob("version=*"):
        if int(snapshot.name.split("=", 1)[1]) not in named:
            shutil.rmtree(snapshot)
            removed.append(str(snapshot))
    finished = None
    now = current(settings)
    if records:
        last = records[-1]
        if now is None or (now["version"], now["checksum"]) != (last["version"], last["checksum"]):
            meta_file = folder / f"version={int(last['version'])}" / "snapshot.json"
            _atomic_write_json(
                settings.published_dir / "CURRENT.json", json.loads(meta_file.read_text())
            )
            finished = int(last["version"])
    if removed or finished:
        log.warning(
            "recovered an interrupted publication: pointer -> version %s, removed %s",
            finished,
            removed,
        )
    return {"removed": removed, "pointer_finished": finished}


def publish(settings) -> dict:
    """Publish the validated candidate as the next version; unchanged content publishes nothing.

    The snapshot is complete on disk before anything points at it. One publisher at a time
    (a lock beside the snapshots); each starts by recovering what a killed one left.
    """
    settings.published_dir.mkdir(parents=True, exist_ok=True)
    with writer_lock(settings.published_dir / "publisher"):
        recover(settings)
        return _publish(settings)


def _publish(settings) -> dict:
    with connect(settings.warehouse, read_only=True) as con:
        frame = con.execute(
            "select * from main.recommendations_candidate order by user_id, rank"
        ).df()
    checksum = content_checksum(frame)
    now = current(settings)
    if now and now["checksum"] == checksum:
        log.info("recommendations unchanged since version %s; nothing published", now["version"])
        return {**now, "published": False}
    version = max(versions(settings), default=0) + 1
    published_at = datetime.now(UTC).replace(tzinfo=None)
    frame["published_at"] = published_at
    folder = _snapshot_dir(settings) / f"version={version}"
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / "recommendations.parquet"
    tmp = folder / ".recommendations.parquet.tmp"
    frame[COLUMNS].to_parquet(tmp, index=False)
    with tmp.open("rb") as fh:
        os.fsync(fh.fileno())
    meta = {
        "version": version,
        "path": str(target),
        "rows": len(frame),
        "users": int(frame["user_id"].nunique()),
        "checksum": checksum,
        "model_version": int(frame["model_version"].iloc[0]),
        "run_id": str(frame["run_id"].iloc[0]),
        "published_at": published_at.isoformat(),
    }
    _atomic_write_json(folder / "snapshot.json", meta)
    os.replace(tmp, target)  # the snapshot exists whole from here on
    _make_current(settings, meta, "publish")
    log.info(
        "published version %d: %d rows for %d users -> %s",
        version,
        len(frame),
        meta["users"],
        target,
    )
    return {**meta, "published": True}


def rollback(settings, to_version: int | None = None) -> dict:
    """Make an earlier snapshot current again (default: the one before the current)."""
    with writer_lock(settings.published_dir / "publisher"):
        recover(settings)
        return _rollback(settings, to_version)


def _rollback(settings, to_version: int | None) -> dict:
    now = current(settings)
    if now is None:
        raise FileNotFoundError(f"{settings.published_dir}: nothing published yet")
    have = versions(settings)
    if to_version is None:
        earlier = [v for v in have if v < now["version"]]
        if not earlier:
            raise ValueError(f"version {now['version']} is the oldest; nothing to roll back to")
        to_version = earlier[-1]
    if to_version not in have:
        raise ValueError(f"version {to_version} has no snapshot; versions on disk: {have}")
    meta_file = _snapshot_dir(settings) / f"version={to_version}" / "snapshot.json"
    record = json.loads(meta_file.read_text())
    _make_current(settings, record, "rollback")
    log.info("rolled back from version %d to version %d", now["version"], to_version)
    return {"from_version": now["version"], **record}


def read_published(settings, user_id: str | None = None) -> pd.DataFrame:
    """What applications read: the snapshot the pointer names, never the live warehouse."""
    now = current(settings)
    if now is None:
        raise FileNotFoundError(f"{settings.published_dir}: nothing published yet")
    filters = [("user_id", "==", user_id)] if user_id is not None else None
    return pd.read_parquet(now["path"], filters=filters)


def watch(pointer: str, stop: str, out: str) -> None:
    """A reader's loop, for tests and benchmarks: read what the pointer names until ``stop``
    exists, checking every read whole against the pointer; write latencies and errors."""
    import time

    pointer_path, stop_path, out_path = Path(pointer), Path(stop), Path(out)
    latencies, errors, seen = [], [], set()
    (out_path.parent / "ready").touch()
    while not stop_path.exists():
        start = time.perf_counter()
        try:
            meta = json.loads(pointer_path.read_text())
            frame = pd.read_parquet(meta["path"])
            if len(frame) != meta["rows"] or content_checksum(frame) != meta["checksum"]:
                errors.append(f"version {meta['version']}: partial or mixed read")
            seen.add(meta["version"])
        except Exception as err:  # any failure to read is what this loop exists to catch
            errors.append(repr(err))
        latencies.append(time.perf_counter() - start)
    out_path.write_text(
        json.dumps({"latencies": latencies, "errors": errors[:5], "versions": sorted(seen)})
    )


WATCH = "import sys; from recfusion.publish import watch; watch(*sys.argv[1:])"
