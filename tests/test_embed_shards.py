"""Embedding in several worker processes gives the single-process result, and is safe to rerun.

A tiny random-weight BERT (built from a config, saved to a folder) stands in for the
encoder; the warehouse holds only ``marts.dim_items``.
"""

from __future__ import annotations

import ast
import os
import re
import time
from pathlib import Path

import duckdb
import numpy as np
import pytest

from recfusion.embed import embed_items, text_key
from recfusion.embed_shards import (
    EmbedWorkerFailed,
    job_folder,
    read_shard,
    remove_abandoned_jobs,
)
from tests.conftest import small_settings

WORDS = ["a", "red", "blue", "green", "tent", "boot", "lamp", "long", "very", "small", "mug"]


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    from transformers import BertConfig, BertModel, BertTokenizerFast

    folder = tmp_path_factory.mktemp("tiny-bert")
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *WORDS]
    (folder / "vocab.txt").write_text("\n".join(vocab))
    BertTokenizerFast(vocab_file=str(folder / "vocab.txt")).save_pretrained(folder)
    config = BertConfig(
        vocab_size=len(vocab),
        hidden_size=16,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=32,
    )
    BertModel(config).save_pretrained(folder)
    return str(folder)


def item_texts(n: int) -> list[str]:
    rng = np.random.default_rng(0)
    return [" ".join(rng.choice(WORDS, size=rng.integers(1, 9))) for _ in range(n)]


def warehouse_with_items(home, texts: list[str], model: str, workers: int):
    settings = small_settings(
        home, embed={"model": model, "device": "cpu", "batch_size": 4, "workers": workers}
    )
    settings.ensure_dirs()
    with duckdb.connect(str(settings.warehouse)) as con:
        con.execute("create schema if not exists marts")
        con.execute("create or replace table marts.dim_items (item_id varchar, item_text varchar)")
        con.executemany(
            "insert into marts.dim_items values (?, ?)",
            [(f"i{n:03d}", text) for n, text in enumerate(texts)],
        )
    return settings


def item_vectors(settings) -> tuple[list[str], np.ndarray]:
    with duckdb.connect(str(settings.warehouse), read_only=True) as con:
        frame = con.execute("select item_id, vector from ml.item_vectors order by item_id").df()
    return frame["item_id"].tolist(), np.stack(frame["vector"].to_numpy())


def cache_rows(settings) -> int:
    with duckdb.connect(str(settings.warehouse), read_only=True) as con:
        return con.execute("select count(*) from ml.embedding_cache").fetchone()[0]


def test_two_worker_processes_match_one_and_rerun_is_a_no_op(tmp_path, tiny_model):
    texts = item_texts(40)
    texts[7] = texts[3]  # a duplicate text is embedded once
    single = warehouse_with_items(tmp_path / "single", texts, tiny_model, workers=1)
    sharded = warehouse_with_items(tmp_path / "sharded", texts, tiny_model, workers=2)

    one = embed_items(single)
    two = embed_items(sharded)
    assert one["workers"] == 1 and two["workers"] == 2
    assert two["embedded"] == one["embedded"] == len(set(texts))

    ids_one, vec_one = item_vectors(single)
    ids_two, vec_two = item_vectors(sharded)
    assert ids_one == ids_two and len(ids_two) == len(texts)
    assert vec_two.shape == (len(texts), 16)
    np.testing.assert_allclose(vec_two, vec_one, atol=1e-5)
    assert cache_rows(sharded) == len(set(texts))
    assert not any((sharded.home / "tmp" / "embed").iterdir())  # shards removed after commit

    again = embed_items(sharded)  # everything is cached now: no worker starts
    assert again["embedded"] == 0 and again["workers"] == 1
    np.testing.assert_allclose(item_vectors(sharded)[1], vec_one, atol=1e-5)


def test_damaged_or_foreign_shards_are_never_merged(tmp_path, tiny_model):
    texts = item_texts(12)
    settings = warehouse_with_items(tmp_path / "home", texts, tiny_model, workers=2)
    reference = warehouse_with_items(tmp_path / "ref", texts, tiny_model, workers=1)
    embed_items(reference)

    # what killed workers and an earlier job would leave in this job's folder
    keys = sorted({text_key(tiny_model, t) for t in texts})
    folder = job_folder(settings.home, tiny_model, keys)
    folder.mkdir(parents=True)
    (folder / ".shard-000-of-002.4242.tmp.npz").write_bytes(b"PK\x03\x04half a zip")
    (folder / "shard-000-of-002.npz").write_bytes(b"PK\x03\x04truncated")  # final name, damaged
    with (folder / "shard-001-of-002.npz").open("wb") as fh:  # complete, but other keys
        np.savez(fh, keys=np.array(["f" * 64] * 6), vectors=np.full((6, 16), 9.0, "float32"))
    assert read_shard(folder / "shard-000-of-002.npz", keys[:6]) is None
    assert read_shard(folder / "shard-001-of-002.npz", keys[6:]) is None

    embed_items(settings)
    np.testing.assert_allclose(item_vectors(settings)[1], item_vectors(reference)[1], atol=1e-5)
    assert not folder.exists()


def test_a_finished_shard_from_an_interrupted_run_is_reused(tmp_path, tiny_model):
    texts = item_texts(10)
    settings = warehouse_with_items(tmp_path / "home", texts, tiny_model, workers=2)
    keys = sorted({text_key(tiny_model, t) for t in texts})
    folder = job_folder(settings.home, tiny_model, keys)
    folder.mkdir(parents=True)
    half = len(keys) // 2
    marker = np.full((half, 16), 0.5, dtype=np.float32)  # recognisable "earlier" vectors
    with (folder / "shard-000-of-002.npz").open("wb") as fh:
        np.savez(fh, keys=np.array(keys[:half]), vectors=marker)

    embed_items(settings)
    with duckdb.connect(str(settings.warehouse), read_only=True) as con:
        cached = con.execute("select cache_key, vector from ml.embedding_cache").df()
    by_key = dict(zip(cached["cache_key"], cached["vector"], strict=True))
    assert all(np.allclose(by_key[k], 0.5) for k in keys[:half])  # taken from the shard
    assert not any(np.allclose(by_key[k], 0.5) for k in keys[half:])  # embedded now


def test_a_failing_worker_stops_the_job_and_nothing_is_merged(tmp_path):
    settings = warehouse_with_items(
        tmp_path / "home", item_texts(6), str(tmp_path / "no-such-model"), workers=2
    )
    with pytest.raises(EmbedWorkerFailed, match=r"shard-00[01]-of-002 on cpu: exit 1"):
        embed_items(settings)
    assert cache_rows(settings) == 0


def test_abandoned_job_folders_are_removed_after_a_day(tmp_path):
    jobs = tmp_path / "tmp" / "embed"
    current, recent, old = (jobs / name for name in ("current", "recent", "old"))
    for folder in (current, recent, old):
        folder.mkdir(parents=True)
        (folder / "shard-000-of-002.npz").write_bytes(b"x")
    two_days_ago = time.time() - 2 * 86_400
    os.utime(old, (two_days_ago, two_days_ago))
    remove_abandoned_jobs(current)
    assert sorted(p.name for p in jobs.iterdir()) == ["current", "recent"]


def test_kubernetes_snippet_in_the_docs_parses_and_requests_a_gpu():
    """The provider is not installed here, so the snippet is parsed, not run."""
    doc = (Path(__file__).resolve().parents[1] / "docs" / "scale-out.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", doc, re.S)
    assert len(blocks) == 1
    tree = ast.parse(blocks[0])
    calls = {
        node.func.id: {kw.arg for kw in node.keywords}
        for node in ast.walk(tree)
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
    }
    assert {"container_resources", "pool", "on_finish_action"} <= calls["KubernetesPodOperator"]
    assert "nvidia.com/gpu" in blocks[0]
    assert "airflow.providers.cncf.kubernetes.operators.pod" in blocks[0]
