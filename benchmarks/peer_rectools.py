"""The peer: rectools' SASRec on the same leave-one-out split, in rectools' own venv.

Run by ``bench_models.py`` with the venv it builds (``.venv-rectools``); reads the split
that script exports (``user, item, pos, n``: each user's items in time order) and prints one
JSON line of metrics. Protocol as in EVALUATION.md: trains on i_1..i_(n-2); validation ranks
i_(n-1) with that history; test ranks i_n with i_1..i_(n-1), without retraining; the whole
catalogue is ranked with the history removed (``filter_viewed``). Training runs in chunks of
``--eval-every`` epochs and stops when validation NDCG@10 has not improved for
``--patience`` chunks; the test figures are those of the best validation chunk.
"""

from __future__ import annotations

import argparse
import json
import math
import time

import numpy as np
import pandas as pd


def metrics(reco: pd.DataFrame, targets: pd.Series, n_users: int) -> dict:
    hit = reco.merge(targets.rename("item_id").reset_index(), on=["user_id", "item_id"])
    out = {}
    for k in (10, 20):
        ranks = hit.loc[hit["rank"] <= k, "rank"].to_numpy()
        out[f"recall_{k}"] = len(ranks) / n_users
        out[f"ndcg_{k}"] = float(sum(1 / math.log2(r + 1) for r in ranks)) / n_users
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--split", required=True, help="CSV with user, item, pos, n")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--max-epochs", type=int, default=100)
    ap.add_argument("--eval-every", type=int, default=10)
    ap.add_argument("--patience", type=int, default=2)
    args = ap.parse_args()

    import torch
    from pytorch_lightning import seed_everything
    from rectools import Columns
    from rectools.dataset import Dataset
    from rectools.models import SASRecModel

    torch.set_num_threads(max(torch.get_num_threads(), 1))
    seed_everything(args.seed, workers=True)
    split = pd.read_csv(args.split)
    frame = pd.DataFrame(
        {
            Columns.User: split["user"],
            Columns.Item: split["item"],
            Columns.Weight: 1.0,
            # order only: position as seconds; ties cannot happen within a user
            Columns.Datetime: pd.to_datetime(split["pos"], unit="s"),
        }
    )
    train = frame[split["pos"] < split["n"] - 2]
    seen_valid = frame[split["pos"] < split["n"] - 1]
    valid_t = split[split["pos"] == split["n"] - 2].set_index("user")["item"]
    test_t = split[split["pos"] == split["n"] - 1].set_index("user")["item"]
    valid_t.index.name = test_t.index.name = "user_id"
    n_users = split["user"].nunique()
    train_ds = Dataset.construct(train)
    test_ds = Dataset.construct(seen_valid)
    model = SASRecModel(loss="softmax", epochs=args.eval_every, deterministic=True, verbose=0)
    best = {"valid": {"ndcg_10": -1.0}}
    waited, epochs, start = 0, 0, time.perf_counter()
    while epochs < args.max_epochs:
        model.fit_partial(train_ds, min_epochs=args.eval_every, max_epochs=args.eval_every)
        epochs += args.eval_every
        users = valid_t.index.to_numpy()
        v = metrics(
            model.recommend(
                users, train_ds, k=20, filter_viewed=True, on_unsupported_targets="warn"
            ),
            valid_t,
            n_users,
        )
        t = metrics(
            model.recommend(
                users, test_ds, k=20, filter_viewed=True, on_unsupported_targets="warn"
            ),
            test_t,
            n_users,
        )
        print(
            json.dumps(
                {
                    "epoch": epochs,
                    "valid_ndcg_10": v["ndcg_10"],
                    "test_ndcg_10": t["ndcg_10"],
                    "seconds": round(time.perf_counter() - start, 1),
                }
            ),
            flush=True,
        )
        if v["ndcg_10"] > best["valid"]["ndcg_10"]:
            best, waited = {"valid": v, "test": t, "best_epoch": epochs}, 0
        else:
            waited += 1
            if waited >= args.patience:
                break
    best.update(
        seconds=round(time.perf_counter() - start, 1),
        epochs=epochs,
        seed=args.seed,
        config={"model": "rectools.SASRecModel defaults", "loss": "softmax"},
    )
    print("RESULT " + json.dumps(best), flush=True)


if __name__ == "__main__":
    np.random.seed(0)
    main()
