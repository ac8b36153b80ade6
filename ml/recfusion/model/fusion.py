"""Long- and short-term user representations fused by a per-user gate.

Inputs for a batch of users are their histories, oldest first and left-padded with item 0:
``items`` (B, L) item indices and ``ages`` (B, L) each event's age in days at request time.
The output is one score per catalogue item, (B, I + 1), index 0 the padding item.

NOTE: departures from the published models, and why.
- SLi-Rec (Yu et al., 2019) gates long and short states per time step inside an LSTM and
  feeds time intervals into the cell; here the long-term side is attention pooling over
  the whole history with a learned log-age penalty, and one gate mixes two user vectors.
  One gate per user is what an operator can read ("this user is in a short-term phase"),
  and the pooled long-term side costs O(L) rather than a recurrent pass.
- SDM (Lv et al., 2019) gates long- and short-term vectors as here, but builds the
  long-term side from side-information channels (category, brand, shop); recfusion uses
  the item's language-model vector through a learned projection, plus an ID embedding.
- The gate reads recency and drift features (days since the last event, history length,
  agreement of the two vectors) rather than only the two vectors, so it can react to a
  user coming back after a long absence.
- Training is full-catalogue cross-entropy, not negative sampling (see EVALUATION.md).

``gate_mode`` selects the fusion: ``learned`` (the gate), ``alpha`` (the fixed weighting
alpha(t) = 1 / (1 + e^(-k t)) of the days since the last event, with alpha-weighted
long-term pooling), ``long`` or ``short`` (one side only). All share the same encoders.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

GATE_MODES = ("learned", "alpha", "long", "short")


def alpha_weight(age_days: torch.Tensor, k: float) -> torch.Tensor:
    """alpha(t) = 1 / (1 + e^(-k t)): how much an event of age t counts long-term."""
    return torch.sigmoid(k * age_days)


class FusionRecommender(nn.Module):
    def __init__(
        self,
        item_vectors: torch.Tensor,
        hidden: int = 64,
        short_n: int = 10,
        use_id_embedding: bool = True,
        dropout: float = 0.2,
        gate_mode: str = "learned",
        alpha_k: float = 0.1,
    ):
        super().__init__()
        if gate_mode not in GATE_MODES:
            raise ValueError(f"gate_mode '{gate_mode}' is not one of {GATE_MODES}")
        n_items, text_dim = item_vectors.shape  # row 0 is the padding item
        self.gate_mode, self.alpha_k, self.short_n = gate_mode, alpha_k, short_n
        self.register_buffer("item_text", item_vectors.float())  # (I+1, D)
        self.text_proj = nn.Sequential(
            nn.Linear(text_dim, hidden), nn.GELU(), nn.Linear(hidden, hidden)
        )
        self.id_emb = nn.Embedding(n_items, hidden, padding_idx=0) if use_id_embedding else None
        if self.id_emb is not None:
            nn.init.normal_(self.id_emb.weight, std=0.02)
        self.dropout = nn.Dropout(dropout)
        # long-term: attention pooling with a learned penalty on log age
        self.attn = nn.Sequential(nn.Linear(hidden, hidden), nn.Tanh(), nn.Linear(hidden, 1))
        self.age_penalty = nn.Parameter(torch.tensor(0.5))
        self.long_out = nn.Linear(hidden, hidden)
        # short-term: a GRU over the last short_n items
        self.gru = nn.GRU(hidden, hidden, batch_first=True)
        self.short_out = nn.Linear(hidden, hidden)
        # gate: recency and drift features -> weight of the long-term side
        self.gate = nn.Sequential(nn.Linear(4, 16), nn.GELU(), nn.Linear(16, 1))

    def item_table(self) -> torch.Tensor:
        table = self.text_proj(self.item_text)  # (I+1, H)
        if self.id_emb is not None:
            table = table + self.id_emb.weight
        return table

    def encode_users(self, items: torch.Tensor, ages: torch.Tensor):
        """Return (user vectors (B, H), gate values (B,)) for left-padded histories."""
        table = self.item_table()
        mask = items > 0  # (B, L)
        x = self.dropout(table[items])  # (B, L, H)
        safe_ages = ages.clamp(min=0)

        # long-term side
        logits = self.attn(x).squeeze(-1)  # (B, L)
        if self.gate_mode == "alpha":
            weights = alpha_weight(safe_ages, self.alpha_k)
            logits = torch.log(weights.clamp(min=1e-6))
        else:
            logits = logits - F.softplus(self.age_penalty) * torch.log1p(safe_ages)
        logits = logits.masked_fill(~mask, float("-inf"))
        attn = torch.softmax(logits, dim=-1).nan_to_num(0.0)  # (B, L)
        long_vec = self.long_out((attn.unsqueeze(-1) * x).sum(dim=1))  # (B, H)

        # short-term side: the last short_n positions (histories are left-padded)
        xs = x[:, -self.short_n :]  # (B, S, H)
        out, _ = self.gru(xs)
        short_vec = self.short_out(out[:, -1])  # (B, H)

        # gate features, from the history alone
        last_age = torch.where(mask, safe_ages, torch.full_like(safe_ages, 1e9)).min(dim=1).values
        last_age = torch.where(mask.any(dim=1), last_age, torch.zeros_like(last_age))
        n_hist = mask.sum(dim=1).float()
        cos = F.cosine_similarity(long_vec, short_vec, dim=-1)
        feats = torch.stack([torch.log1p(last_age), torch.log1p(n_hist), cos, 1 - cos], dim=-1)
        if self.gate_mode == "learned":
            g = torch.sigmoid(self.gate(feats)).squeeze(-1)
        elif self.gate_mode == "alpha":
            g = alpha_weight(last_age, self.alpha_k)
        elif self.gate_mode == "long":
            g = torch.ones_like(last_age)
        else:
            g = torch.zeros_like(last_age)
        user = g.unsqueeze(-1) * long_vec + (1 - g).unsqueeze(-1) * short_vec
        return user, g

    def forward(self, items: torch.Tensor, ages: torch.Tensor) -> torch.Tensor:
        user, _ = self.encode_users(items, ages)
        return user @ self.item_table().T  # (B, I+1)
