"""Evaluation segments: the users and targets where long- and short-term fusion matters most.

- ``drifted``: users whose short-term category mix (their last ``short_n`` history items)
  is far from their long-term mix (the whole history): total variation distance at least
  ``DRIFT_THRESHOLD``. These users are where a model must lean on the short-term side.
- ``long_tail``: rows whose target is outside the head, the most popular items that
  together hold ``HEAD_SHARE`` of the training interactions.
- ``stable``: the users who did not drift, for contrast.
"""

from __future__ import annotations

import numpy as np

from recfusion.model.metrics import ranking_metrics

DRIFT_THRESHOLD = 0.5
HEAD_SHARE = 0.8


def category_drift(history: np.ndarray, categories: np.ndarray, short_n: int) -> float:
    """Total variation distance between the category mix of the last short_n and of all."""
    if len(history) == 0:
        return 0.0
    cats = categories[history]
    recent = cats[-short_n:]
    labels = np.unique(cats)
    long_mix = np.array([(cats == c).mean() for c in labels])
    short_mix = np.array([(recent == c).mean() for c in labels])
    return float(0.5 * np.abs(long_mix - short_mix).sum())


def head_items(data) -> np.ndarray:
    """Boolean (I + 1,): the most popular items holding HEAD_SHARE of training interactions."""
    counts = np.zeros(data.n_items + 1)
    for u in range(len(data.users)):
        np.add.at(counts, data.seqs[u][: data.train_length(u)], 1)
    order = np.argsort(-counts, kind="stable")
    share = np.cumsum(counts[order]) / max(counts.sum(), 1)
    head = np.zeros(data.n_items + 1, dtype=bool)
    head[order[: int(np.searchsorted(share, HEAD_SHARE)) + 1]] = True
    head[0] = False
    return head


def segment_masks(data, batch, short_n: int) -> dict[str, np.ndarray]:
    """Row masks of ``batch`` for each segment (categories from ``data.categories``)."""
    masks = {"long_tail": ~head_items(data)[batch.targets]}
    if data.categories is not None:
        drift = np.array([category_drift(h, data.categories, short_n) for h in batch.seen])
        masks["drifted"] = drift >= DRIFT_THRESHOLD
        masks["stable"] = ~masks["drifted"]
    return masks


def segment_metrics(ranks: np.ndarray, masks: dict[str, np.ndarray]) -> dict[str, float]:
    """``{segment}.{metric}`` for every segment, plus ``{segment}.users`` (its size)."""
    out: dict[str, float] = {}
    for name, mask in masks.items():
        out[f"{name}.users"] = float(mask.sum())
        for key, value in ranking_metrics(ranks[mask]).items():
            out[f"{name}.{key}"] = value
    return out
