"""Training with full-catalogue cross-entropy, early stopping on validation NDCG@10.

Above ``train.full_softmax_max_items`` items the loss is a sampled softmax instead: each
batch scores its targets against ``train.negatives`` items drawn uniformly from the
catalogue (a draw that hits a row's own target is masked). Uniform draws need no
log-probability correction: it is the same constant for every item.
"""

from __future__ import annotations

import copy
import logging
import os
import time
from contextlib import contextmanager
from dataclasses import dataclass, field

import numpy as np
import torch
from torch.nn import functional as F
from tqdm import tqdm

from recfusion.model.data import Batch, Interactions, evaluation_batch, training_examples
from recfusion.model.fusion import FusionRecommender
from recfusion.model.metrics import ranking_metrics, target_ranks
from recfusion.model.sasrec import SASRecBaseline

log = logging.getLogger(__name__)


@dataclass
class TrainResult:
    gate_mode: str
    model: FusionRecommender
    history: list[dict] = field(default_factory=list)
    best_epoch: int = 0
    valid: dict = field(default_factory=dict)
    test: dict = field(default_factory=dict)
    test_ranks: np.ndarray | None = None
    seconds: float = 0.0


def device_for(setting: str = "auto") -> torch.device:
    if setting != "cpu" and torch.cuda.is_available():
        return torch.device("cuda")
    return torch.device("cpu")


def masked_scores(model, batch: Batch, device, chunk: int = 512):
    """Yield (row slice, scores (b, I+1) as numpy) with padding and seen items at -inf."""
    model.eval()
    with torch.inference_mode():
        for start in range(0, len(batch.targets), chunk):
            sl = slice(start, start + chunk)
            items = torch.from_numpy(batch.items[sl]).to(device)
            ages = torch.from_numpy(batch.ages[sl]).to(device)
            scores = model(items, ages).float().cpu().numpy()
            scores[:, 0] = -np.inf
            for r, seen in enumerate(batch.seen[sl]):
                scores[r, seen] = -np.inf
            yield sl, scores


def gate_values(model, batch: Batch, device, chunk: int = 1024) -> np.ndarray:
    model.eval()
    out = []
    with torch.inference_mode():
        for start in range(0, len(batch.targets), chunk):
            items = torch.from_numpy(batch.items[start : start + chunk]).to(device)
            ages = torch.from_numpy(batch.ages[start : start + chunk]).to(device)
            out.append(model.encode_users(items, ages)[1].float().cpu().numpy())
    return np.concatenate(out) if out else np.zeros(0)


def evaluate(model, batch: Batch, device) -> tuple[dict, np.ndarray]:
    ranks = np.zeros(len(batch.targets), dtype=np.int64)
    for sl, scores in masked_scores(model, batch, device):
        ranks[sl] = target_ranks(scores, batch.targets[sl])
    return ranking_metrics(ranks), ranks


def popularity(data: Interactions, batch: Batch) -> tuple[dict, np.ndarray]:
    """Rank by how many users have the item in their training history."""
    counts = np.zeros(data.n_items + 1)
    for u in range(len(data.users)):
        np.add.at(counts, data.seqs[u][: data.train_length(u)], 1)
    scores = np.tile(counts, (len(batch.targets), 1))
    scores[:, 0] = -np.inf
    for r, seen in enumerate(batch.seen):
        scores[r, seen] = -np.inf
    ranks = target_ranks(scores, batch.targets)
    return ranking_metrics(ranks), ranks


def build_model(data: Interactions, settings, gate_mode: str):
    cfg = settings.train
    if gate_mode == "sasrec":
        return SASRecBaseline(
            data.n_items + 1,
            hidden=cfg.hidden,
            max_len=cfg.max_history,
            blocks=cfg.sasrec_blocks,
            dropout=cfg.dropout,
        )
    return FusionRecommender(
        torch.from_numpy(data.item_vectors),
        hidden=cfg.hidden,
        short_n=cfg.short_n,
        use_id_embedding=cfg.use_id_embedding,
        dropout=cfg.dropout,
        gate_mode=gate_mode,
        alpha_k=settings.interests.alpha_k,
    )


def batch_loss(model, items, ages, targets, n_negatives: int | None) -> torch.Tensor:
    """Cross-entropy of the targets: over the whole catalogue, or against sampled negatives."""
    if n_negatives is None:
        logits = model(items, ages)  # (B, I+1)
        logits[:, 0] = float("-inf")
        return F.cross_entropy(logits, targets)
    user, _ = model.encode_users(items, ages)
    table = model.item_table()
    negatives = torch.randint(1, table.size(0), (n_negatives,), device=targets.device)
    positive = (user * table[targets]).sum(-1, keepdim=True)  # (B, 1)
    sampled = user @ table[negatives].T  # (B, N)
    sampled = sampled.masked_fill(negatives.unsqueeze(0) == targets.unsqueeze(1), float("-inf"))
    logits = torch.cat([positive, sampled], dim=1)
    return F.cross_entropy(logits, torch.zeros_like(targets))


@contextmanager
def deterministic():
    """Torch's deterministic kernels for the length of the block, then the caller's mode.

    With more than one CPU thread some backward kernels (scatter-adds into embedding
    gradients among them) sum in a varying order, so two trainings with the same seed and
    data drift apart in the last bits; a rerun after a crash would then publish different
    scores, and a retrained model on the same snapshot could look better than its twin.
    """
    before = torch.are_deterministic_algorithms_enabled()
    before_warn = torch.is_deterministic_algorithms_warn_only_enabled()
    # on CUDA, cuBLAS needs this workspace setting for repeatable results; warn_only keeps an
    # op without a deterministic kernel running (with a warning) instead of failing the job
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    torch.use_deterministic_algorithms(True, warn_only=True)
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(before, warn_only=before_warn)


def fit(data: Interactions, settings, gate_mode: str = "learned") -> TrainResult:
    """Train one variant; keep the epoch with the best validation NDCG@10.

    Bit-for-bit repeatable for the same data, settings and thread count (see
    ``deterministic``).
    """
    threads = torch.get_num_threads()
    if settings.train.threads:
        torch.set_num_threads(settings.train.threads)
    try:
        with deterministic():
            return _fit(data, settings, gate_mode)
    finally:
        torch.set_num_threads(threads)


def _fit(data: Interactions, settings, gate_mode: str) -> TrainResult:
    cfg = settings.train
    torch.manual_seed(cfg.seed)
    rng = np.random.default_rng(cfg.seed)
    device = device_for(settings.embed.device)
    model = build_model(data, settings, gate_mode).to(device)
    optim = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    train = training_examples(data, cfg.max_history)
    n_negatives = cfg.negatives if data.n_items > cfg.full_softmax_max_items else None
    if n_negatives:
        log.info(
            "%s: %d items > %d, sampled softmax with %d negatives",
            gate_mode,
            data.n_items,
            cfg.full_softmax_max_items,
            n_negatives,
        )
    valid = evaluation_batch(data, "valid", cfg.max_history)
    result = TrainResult(gate_mode=gate_mode, model=model)
    best, best_state, waited = -1.0, None, 0
    start = time.perf_counter()
    for epoch in range(1, cfg.epochs + 1):
        model.train()
        order = rng.permutation(len(train.targets))
        total, steps = 0.0, 0
        for s in tqdm(
            range(0, len(order), cfg.batch_size),
            desc=f"{gate_mode} epoch {epoch}",
            unit="batch",
            leave=False,
            mininterval=2,
        ):
            idx = order[s : s + cfg.batch_size]
            items = torch.from_numpy(train.items[idx]).to(device)
            ages = torch.from_numpy(train.ages[idx]).to(device)
            targets = torch.from_numpy(train.targets[idx]).to(device)
            loss = batch_loss(model, items, ages, targets, n_negatives)
            optim.zero_grad(set_to_none=True)
            loss.backward()
            optim.step()
            total += loss.item()
            steps += 1
        metrics, _ = evaluate(model, valid, device)
        row = {
            "epoch": epoch,
            "loss": total / max(steps, 1),
            **{f"valid_{k}": v for k, v in metrics.items()},
        }
        result.history.append(row)
        log.info(
            "%s epoch %d: loss %.4f, valid NDCG@10 %.4f, Recall@10 %.4f",
            gate_mode,
            epoch,
            row["loss"],
            metrics["ndcg_10"],
            metrics["recall_10"],
        )
        if metrics["ndcg_10"] > best:
            best, best_state, waited = metrics["ndcg_10"], copy.deepcopy(model.state_dict()), 0
            result.best_epoch = epoch
        else:
            waited += 1
            if waited >= cfg.patience:
                log.info(
                    "%s: early stop after epoch %d (best %d)", gate_mode, epoch, result.best_epoch
                )
                break
    if best_state is not None:
        model.load_state_dict(best_state)
    result.valid, _ = evaluate(model, valid, device)
    test = evaluation_batch(data, "test", cfg.max_history)
    result.test, result.test_ranks = evaluate(model, test, device)
    result.seconds = time.perf_counter() - start
    model.cpu()
    return result
