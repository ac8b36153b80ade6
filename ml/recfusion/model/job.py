"""The training stage: read the marts, train every variant, evaluate, register."""

from __future__ import annotations

import hashlib
import logging

import numpy as np

from recfusion import registry
from recfusion.embed import resolve_model
from recfusion.model.data import evaluation_batch, read_interactions
from recfusion.model.segments import segment_masks, segment_metrics
from recfusion.model.train import device_for, fit, gate_values, popularity
from recfusion.transform import manifest_path
from recfusion.warehouse import connect

log = logging.getLogger(__name__)


def snapshot_hashes(con, settings, item_ids) -> dict:
    data = con.execute(
        """select md5(string_agg(user_id || '|' || item_id || '|' || seq_pos, ','
           order by user_id, seq_pos)) from marts.fct_user_item_splits"""
    ).fetchone()[0]
    items = con.execute("""select md5(string_agg(item_id || '|' || item_text, ','
                           order by item_id)) from marts.dim_items""").fetchone()[0]
    _, encoder = resolve_model(settings.embed.model)
    items_key = hashlib.sha256(f"{encoder}|{items}|{','.join(item_ids)}".encode()).hexdigest()
    manifest = manifest_path(settings)
    mhash = hashlib.sha256(manifest.read_bytes()).hexdigest() if manifest.exists() else "none"
    return {
        "data_snapshot": data[:16],
        "items_hash": items_key[:16],
        "manifest_hash": mhash,
        "encoder": encoder,
    }


def train_and_register(settings, validation: str = "passed") -> dict:
    with connect(settings.warehouse, read_only=True) as con:
        data = read_interactions(con)
        ctx = snapshot_hashes(con, settings, data.item_ids)
    ctx.update(users=len(data.users), items=data.n_items, validation=validation)
    log.info(
        "training on %d users, %d items (snapshot %s)",
        len(data.users),
        data.n_items,
        ctx["data_snapshot"],
    )
    results = {mode: fit(data, settings, mode) for mode in settings.train.variants}
    for mode, r in results.items():
        log.info(
            "%-8s valid NDCG@10 %.4f | test NDCG@10 %.4f Recall@10 %.4f (%.0fs)",
            mode,
            r.valid["ndcg_10"],
            r.test["ndcg_10"],
            r.test["recall_10"],
            r.seconds,
        )
    max_len = settings.train.max_history
    valid = evaluation_batch(data, "valid", max_len)
    ctx["input_example"] = (valid.items[:2], valid.ages[:2])
    pop = {
        **{f"valid_{k}": v for k, v in popularity(data, valid)[0].items()},
        **{
            f"test_{k}": v
            for k, v in popularity(data, evaluation_batch(data, "test", max_len))[0].items()
        },
    }
    log.info(
        "popularity test NDCG@10 %.4f Recall@10 %.4f", pop["test_ndcg_10"], pop["test_recall_10"]
    )

    test = evaluation_batch(data, "test", max_len)
    masks = segment_masks(data, test, settings.train.short_n)
    segments = {mode: segment_metrics(r.test_ranks, masks) for mode, r in results.items()}
    segments["popularity"] = segment_metrics(popularity(data, test)[1], masks)
    for mode, seg in segments.items():
        log.info(
            "%-10s test NDCG@10 by segment: %s",
            mode,
            ", ".join(
                f"{k.split('.')[0]} {v:.4f}" for k, v in seg.items() if k.endswith("ndcg_10")
            ),
        )

    def gate_plot(path):
        gates = gate_values(results["learned"].model, valid, device_for("cpu"))
        last = np.where(valid.items > 0, valid.ages, np.inf).min(axis=1)
        registry.plot_gate(last, gates, settings.interests.alpha_k, path)

    return registry.log_and_register(settings, results, pop, data, ctx, gate_plot, segments)
