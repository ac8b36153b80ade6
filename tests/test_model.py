"""Model code on tiny data: metrics arithmetic, the encoder's forward pass, the fusion model."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from recfusion.embed import Encoder, read_pooling, resolve_model
from recfusion.model.fusion import FusionRecommender, alpha_weight
from recfusion.model.metrics import ranking_metrics, target_ranks


def test_ranks_and_metrics_follow_the_protocol():
    scores = np.array(
        [
            [-np.inf, 0.9, 0.5, 0.1],  # target 2 ranks 2nd
            [-np.inf, 0.9, -np.inf, 0.1],  # target 2 was seen: a miss
            [-np.inf, 0.2, 0.2, 0.3],
        ]
    )  # a tie counts against the target
    ranks = target_ranks(scores, np.array([2, 2, 2]))
    assert ranks.tolist() == [2, 5, 3]
    m = ranking_metrics(ranks, ks=(1, 3))
    assert m["recall_1"] == 0 and m["recall_3"] == pytest.approx(2 / 3)
    assert m["ndcg_3"] == pytest.approx((1 / math.log2(3) + 1 / math.log2(4)) / 3)


def test_alpha_weight_is_the_logistic_of_age():
    ages = torch.tensor([0.0, 10.0, 1e4])
    assert alpha_weight(ages, 0.1).tolist() == pytest.approx([0.5, 1 / (1 + math.e**-1), 1.0])


@pytest.mark.parametrize("mode", ["learned", "alpha", "long", "short"])
def test_fusion_forward_shapes_and_gate(mode):
    torch.manual_seed(0)
    vectors = torch.randn(21, 8)
    vectors[0] = 0
    model = FusionRecommender(vectors, hidden=8, short_n=3, gate_mode=mode).eval()
    items = torch.tensor([[0, 0, 3, 4, 5], [1, 2, 3, 4, 5]])  # (B, L) left-padded
    ages = torch.tensor([[0, 0, 40.0, 2.0, 0.5], [90, 60, 30, 20, 10.0]])
    scores = model(items, ages)
    assert scores.shape == (2, 21)
    _, gate = model.encode_users(items, ages)
    assert ((gate >= 0) & (gate <= 1)).all()
    if mode == "alpha":  # the fixed gate is alpha of the days since the last event
        assert gate.tolist() == pytest.approx(alpha_weight(torch.tensor([0.5, 10.0]), 0.1).tolist())
    # padding never changes the result
    padded = model(torch.nn.functional.pad(items, (3, 0)), torch.nn.functional.pad(ages, (3, 0)))
    assert torch.allclose(padded, scores, atol=1e-5)


def test_fusion_model_learns_a_simple_sequence():
    torch.manual_seed(0)
    vectors = torch.randn(11, 8)
    model = FusionRecommender(vectors, hidden=16, short_n=2, dropout=0.0)
    opt = torch.optim.Adam(model.parameters(), lr=0.02)
    items = torch.tensor([[i, i + 1] for i in range(1, 9)])
    ages = torch.ones_like(items, dtype=torch.float32)
    targets = items[:, 1] + 1  # next item after the last one
    for _ in range(150):
        loss = torch.nn.functional.cross_entropy(model(items, ages), targets)
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert (model(items, ages).argmax(dim=1) == targets).float().mean() > 0.9


def test_packaged_encoder_reads_its_own_pooling_and_embeds_meaningfully():
    path, key = resolve_model("")
    assert key.endswith("all-MiniLM-L6-v2")
    pooling = read_pooling(path)
    assert pooling.mode == "mean" and pooling.normalize
    enc = Encoder(batch_size=2)
    v = enc.encode(
        ["a tent for mountain hiking", "hiking boots for the trail", "a jazz saxophone record"],
        progress=False,
    )
    assert v.shape == (3, 384)
    assert np.allclose(np.linalg.norm(v, axis=1), 1, atol=1e-5)
    assert v[0] @ v[1] > v[0] @ v[2]


def test_tiny_random_encoder_batches_give_the_same_vectors_as_one_by_one(tmp_path):
    from transformers import BertConfig, BertModel, BertTokenizerFast

    words = [
        "[PAD]",
        "[UNK]",
        "[CLS]",
        "[SEP]",
        "[MASK]",
        "a",
        "red",
        "blue",
        "tent",
        "boot",
        "long",
        "very",
    ]
    (tmp_path / "vocab.txt").write_text("\n".join(words))
    BertTokenizerFast(vocab_file=str(tmp_path / "vocab.txt")).save_pretrained(tmp_path)
    config = BertConfig(
        vocab_size=len(words),
        hidden_size=16,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=32,
    )
    BertModel(config).save_pretrained(tmp_path)
    enc = Encoder(str(tmp_path), device="cpu", batch_size=2)
    texts = ["a red tent", "very very long blue boot a tent", "boot", "a blue tent"]
    together = enc.encode(texts, progress=False)
    alone = np.vstack([enc.encode([t], progress=False) for t in texts])
    assert together.shape == (4, 16)
    np.testing.assert_allclose(together, alone, atol=1e-5)


def test_reasons_name_the_recent_item_the_category_or_the_closest_item():
    import pandas as pd

    from recfusion.publish import explain

    items = pd.DataFrame(
        {
            "title": ["Old tent", "Old boots", "New whisk", "Trail map", "Rolling pin"],
            "category": ["hiking", "hiking", "baking", "hiking", "baking"],
        }
    )
    vectors = [[0, 0], [1, 0], [1, 0.1], [0, 1], [0.9, 0.2], [0.1, 1]]  # row 0 pads
    table = torch.nn.functional.normalize(torch.tensor(vectors), dim=-1)
    history = np.array([1, 2, 3])  # oldest first: the whisk is the recent one
    assert (
        explain(history, 5, 0.2, set(), items, table, short_n=1)
        == "Because you recently looked at 'New whisk'"
    )
    assert (
        explain(history, 4, 0.9, {"hiking"}, items, table, short_n=1)
        == "Matches your long-standing interest in hiking"
    )
    assert (
        explain(history, 4, 0.9, set(), items, table, short_n=1)
        == "Similar to 'Old boots' from your history"
    )


def test_learned_variant_starts_as_the_fixed_alpha_weighting():
    """Before training, the learned gate and pooling equal alpha(t); training moves them."""
    torch.manual_seed(0)
    vectors = torch.randn(21, 8)
    learned = FusionRecommender(vectors, hidden=8, short_n=3, gate_mode="learned", dropout=0)
    alpha = FusionRecommender(vectors, hidden=8, short_n=3, gate_mode="alpha", dropout=0)
    alpha.load_state_dict(learned.state_dict())
    items = torch.tensor([[0, 0, 3, 4, 5], [1, 2, 3, 4, 5]])
    ages = torch.tensor([[0, 0, 40.0, 2.0, 0.5], [90, 60, 30, 20, 10.0]])
    (u1, g1), (u2, g2) = (
        learned.eval().encode_users(items, ages),
        alpha.eval().encode_users(items, ages),
    )
    assert torch.allclose(g1, g2, atol=1e-6) and torch.allclose(u1, u2, atol=1e-5)


def test_sasrec_baseline_is_causal_and_ignores_padding():
    from recfusion.model.sasrec import SASRecBaseline

    torch.manual_seed(0)
    model = SASRecBaseline(21, hidden=8, max_len=6, dropout=0.0).eval()
    items = torch.tensor([[0, 0, 3, 4, 5], [1, 2, 3, 4, 5]])
    scores = model(items)
    assert scores.shape == (2, 21) and torch.isfinite(scores).all()
    padded = model(torch.nn.functional.pad(items, (1, 0)))
    assert torch.allclose(padded, scores, atol=1e-5)
    # the user state depends on the history's order: reversing it changes the scores
    assert not torch.allclose(model(items.flip(1).clamp(min=1)), model(items.clamp(min=1)))


def test_sampled_softmax_masks_accidental_hits_and_learns():
    from recfusion.model.train import batch_loss

    torch.manual_seed(0)
    vectors = torch.randn(11, 8)
    model = FusionRecommender(vectors, hidden=16, short_n=2, dropout=0.0)
    opt = torch.optim.Adam(model.parameters(), lr=0.02)
    items = torch.tensor([[i, i + 1] for i in range(1, 9)])
    ages = torch.ones_like(items, dtype=torch.float32)
    targets = items[:, 1] + 1
    # with more negatives than items, every target is drawn as a negative too: masked, the
    # loss stays finite
    assert torch.isfinite(batch_loss(model, items, ages, targets, n_negatives=64))
    for _ in range(150):
        loss = batch_loss(model, items, ages, targets, n_negatives=5)
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert (model(items, ages).argmax(dim=1) == targets).float().mean() > 0.9


def test_segments_split_drifted_users_and_long_tail_targets():
    from recfusion.model.data import Batch, Interactions
    from recfusion.model.segments import category_drift, head_items, segment_masks

    cats = np.array(["", "a", "a", "b", "b", "c"], dtype=object)
    assert category_drift(np.array([1, 2, 1, 2]), cats, 2) == 0.0
    assert category_drift(np.array([1, 2, 1, 2, 3, 4]), cats, 2) == pytest.approx(2 / 3)
    # training histories (all but the last two): item 1 holds 8 of 10, it alone is the head
    seqs = [np.array([1, 1, 1, 5, 5]), np.array([1, 1, 4, 4, 1]), np.array([1, 1, 1, 2, 3])]
    data = Interactions(
        item_ids=list("abcde"),
        item_vectors=np.zeros((6, 2), np.float32),
        users=["u1", "u2", "u3"],
        seqs=seqs,
        times=[np.arange(5.0)] * 3,
        as_of=5.0,
        categories=cats,
    )
    assert head_items(data).tolist() == [False, True, False, False, False, False]
    batch = Batch(
        items=np.zeros((3, 4), np.int64),
        ages=np.zeros((3, 4), np.float32),
        targets=np.array([5, 1, 3]),
        seen=[np.array([1, 2, 3, 4]), np.array([1, 1, 1, 1]), np.array([1, 2, 3, 5])],
        users=np.arange(3),
    )
    masks = segment_masks(data, batch, short_n=2)
    assert masks["long_tail"].tolist() == [True, False, True]
    assert masks["drifted"].tolist() == [True, False, True]
