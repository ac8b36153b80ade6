"""An ID-only SASRec-style baseline (Kang & McAuley, 2018) with the fusion model's interface.

Items are learned ID embeddings plus learned positions; two causal self-attention blocks
read the left-padded history and the last position's state scores every item through the
same (tied) embedding table. No text, no ages, no gate: it answers whether the language
model vectors and the long/short split earn their keep against a plain sequence model
trained with the same loss, data and early stopping.

Departures from the paper: pre-norm blocks (``norm_first``), and cross-entropy over the
whole catalogue rather than one sampled negative per position, which is what makes
SASRec competitive in full-ranking evaluation (Klenitskiy & Vasilev, 2023).
"""

from __future__ import annotations

import torch
from torch import nn


class SASRecBaseline(nn.Module):
    gate_mode = "sasrec"

    def __init__(
        self,
        n_items: int,
        hidden: int = 64,
        max_len: int = 50,
        blocks: int = 2,
        heads: int = 1,
        dropout: float = 0.2,
    ):
        super().__init__()
        self.max_len, self.heads = max_len, heads
        self.item_emb = nn.Embedding(n_items, hidden, padding_idx=0)  # row 0 pads
        self.pos_emb = nn.Embedding(max_len, hidden)
        nn.init.normal_(self.item_emb.weight, std=0.02)
        nn.init.normal_(self.pos_emb.weight, std=0.02)
        layer = nn.TransformerEncoderLayer(
            hidden,
            heads,
            dim_feedforward=hidden,
            dropout=dropout,
            batch_first=True,
            norm_first=True,
            activation="gelu",
        )
        self.encoder = nn.TransformerEncoder(layer, blocks, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(hidden)
        self.dropout = nn.Dropout(dropout)

    def item_table(self) -> torch.Tensor:
        return self.item_emb.weight

    def encode_users(self, items: torch.Tensor, ages: torch.Tensor | None = None):
        """(user vectors (B, H), a gate of ones (B,)): the state after the last item."""
        items = items[:, -self.max_len :]
        length = items.size(1)
        pad = items == 0
        x = self.item_emb(items) * self.item_emb.embedding_dim**0.5
        x = self.dropout(x + self.pos_emb.weight[-length:])  # positions count from the end
        x = x * (~pad).unsqueeze(-1)
        eye = torch.eye(length, dtype=torch.bool, device=items.device)
        causal = torch.triu(torch.ones_like(eye), diagonal=1)
        # (B, L, L): no looking ahead, no attending to padding, but every position sees
        # itself, so a padded row is never all masked (its output is never read)
        blocked = (causal.unsqueeze(0) | pad.unsqueeze(1)) & ~eye
        blocked = blocked.repeat_interleave(self.heads, dim=0)
        h = self.encoder(x, mask=blocked)
        user = self.norm(h[:, -1])
        return user, torch.ones(items.size(0), device=items.device)

    def forward(self, items: torch.Tensor, ages: torch.Tensor | None = None) -> torch.Tensor:
        user, _ = self.encode_users(items, ages)
        return user @ self.item_table().T
