"""Leave-one-out ranking metrics over the whole catalogue (see EVALUATION.md)."""

from __future__ import annotations

import numpy as np


def target_ranks(scores: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """1-based rank of each row's target; history items must already be set to -inf.

    Ties count against the target (a tie ranks above it), and a target scored -inf (it
    could not be scored) gets a rank past the catalogue, so it is always a miss.
    """
    target_scores = scores[np.arange(len(targets)), targets]
    ranks = (scores >= target_scores[:, None]).sum(axis=1)  # includes the target itself
    ranks = np.where(np.isfinite(target_scores), ranks, scores.shape[1] + 1)
    return ranks


def ranking_metrics(ranks: np.ndarray, ks=(10, 20)) -> dict[str, float]:
    out = {}
    for k in ks:
        hit = ranks <= k
        out[f"recall_{k}"] = float(hit.mean()) if len(ranks) else 0.0
        out[f"ndcg_{k}"] = (
            float(np.where(hit, 1.0 / np.log2(ranks + 1), 0.0).mean()) if len(ranks) else 0.0
        )
    return out
