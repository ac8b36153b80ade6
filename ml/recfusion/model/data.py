"""From the warehouse marts to padded tensors: training examples, evaluation and serving.

Point in time: an example's inputs are the items strictly before its target, and ages
are measured at the target's time (the moment the user came back and asked); serving
measures them at the data's as-of time.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from recfusion.embed import load_item_vectors

DAY = 86_400.0


@dataclass
class Interactions:
    item_ids: list[str]  # item index i + 1 -> item_ids[i]; index 0 pads
    item_vectors: np.ndarray  # (I + 1, D), row 0 zeros
    users: list[str]
    seqs: list[np.ndarray]  # per user, item indices in time order
    times: list[np.ndarray]  # per user, seconds since epoch
    as_of: float  # seconds; the latest event in the data
    categories: np.ndarray | None = None  # (I + 1,) each item's category, row 0 empty

    @property
    def n_items(self) -> int:
        return len(self.item_ids)

    def train_length(self, u: int) -> int:
        n = len(self.seqs[u])
        return n - 2 if n >= 3 else n


@dataclass
class Batch:
    items: np.ndarray  # (N, L) int64, left-padded with 0
    ages: np.ndarray  # (N, L) float32, days
    targets: np.ndarray  # (N,) int64, 0 where there is none (serving)
    seen: list[np.ndarray]  # per row, every item the user already has
    users: np.ndarray  # (N,) user index


def read_interactions(con) -> Interactions:
    item_ids, vectors = load_item_vectors(con)
    table = np.vstack([np.zeros((1, vectors.shape[1]), np.float32), vectors])
    index = {item: i + 1 for i, item in enumerate(item_ids)}
    frame = con.execute("""select user_id, item_id, epoch(first_event_at) as ts
                           from marts.fct_user_item_splits
                           order by user_id, seq_pos""").df()
    frame["idx"] = frame["item_id"].map(index)
    if frame["idx"].isna().any():
        missing = frame.loc[frame["idx"].isna(), "item_id"].unique()[:5]
        raise ValueError(f"items without vectors in ml.item_vectors: {list(missing)}")
    users, seqs, times = [], [], []
    for user, group in frame.groupby("user_id", sort=True):
        users.append(user)
        seqs.append(group["idx"].to_numpy(np.int64))
        times.append(group["ts"].to_numpy(np.float64))
    cats = con.execute("select item_id, category from marts.dim_items").df()
    by_item = dict(zip(cats["item_id"], cats["category"].fillna(""), strict=True))
    categories = np.array([""] + [by_item.get(i, "") for i in item_ids], dtype=object)
    return Interactions(item_ids, table, users, seqs, times, float(frame["ts"].max()), categories)


def _pad(rows: list[np.ndarray], length: int, dtype) -> np.ndarray:
    out = np.zeros((len(rows), length), dtype=dtype)
    for r, row in enumerate(rows):
        row = row[-length:]
        if len(row):
            out[r, length - len(row) :] = row
    return out


def _batch(data: Interactions, rows: list[tuple[int, int, float, int]], max_len: int) -> Batch:
    """rows: (user, history length, request time, target index or 0)."""
    hist = [data.seqs[u][:n] for u, n, _, _ in rows]
    ages = [(t - data.times[u][:n]) / DAY for u, n, t, _ in rows]
    return Batch(
        items=_pad(hist, max_len, np.int64),
        ages=_pad([a.astype(np.float32) for a in ages], max_len, np.float32),
        targets=np.array([tg for *_, tg in rows], dtype=np.int64),
        seen=hist,
        users=np.array([u for u, *_ in rows], dtype=np.int64),
    )


def training_examples(data: Interactions, max_len: int) -> Batch:
    """One example per training position after the first: predict item p from items < p."""
    rows = []
    for u in range(len(data.users)):
        seq, ts = data.seqs[u], data.times[u]
        for p in range(1, data.train_length(u)):
            rows.append((u, p, ts[p], int(seq[p])))
    return _batch(data, rows, max_len)


def evaluation_batch(data: Interactions, split: str, max_len: int) -> Batch:
    """Validation: history i_1..i_(n-2), target i_(n-1); test: i_1..i_(n-1), target i_n."""
    offset = {"valid": 2, "test": 1}[split]
    rows = []
    for u in range(len(data.users)):
        n = len(data.seqs[u])
        if n >= 3:
            p = n - offset
            rows.append((u, p, data.times[u][p], int(data.seqs[u][p])))
    return _batch(data, rows, max_len)


def serving_batch(data: Interactions, max_len: int) -> Batch:
    """Every user's whole history, aged at the data's as-of time."""
    rows = [(u, len(data.seqs[u]), data.as_of, 0) for u in range(len(data.users))]
    return _batch(data, rows, max_len)


def item_frame(con, data: Interactions) -> pd.DataFrame:
    frame = con.execute("select item_id, title, category from marts.dim_items").df()
    return frame.set_index("item_id").loc[data.item_ids].reset_index()
