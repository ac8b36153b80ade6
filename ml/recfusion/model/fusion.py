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
- The learned variant contains the fixed one: its pooling logits are log alpha(age) plus a
  learned attention term and age slope, and its gate is logit(alpha(days since the last
  event)) plus a learned correction, both corrections starting at zero. Training starts
  from the article's weighting and moves away from it only where the data pay for it;
  neither SLi-Rec nor SDM has such a prior.
- Training is full-catalogue cross-entropy (sampled softmax with many negatives above a
  catalogue size), not SLi-Rec's and SDM's few sampled negatives (see EVALUATION.md).

``gate_mode`` selects the fusion: ``learned`` (the gate), ``alpha`` (the fixed weighting
alpha(t) = 1 / (1 + e^(-k t)) of the days since the last event, with alpha-weighted
long-term pooling), ``long`` or ``short`` (one side only). All share the same encoders.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

GATE_MODES = ("learned", "alpha", "long", "short")
GATE_FEATURES = 5


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
        # long-term: attention pooling. The learned variant starts from the fixed weighting
        # (log alpha(age) in the logits, zero attention, zero age slope) and learns residuals.
        self.attn = nn.Sequential(nn.Linear(hidden, hidden), nn.Tanh(), nn.Linear(hidden, 1))
        nn.init.zeros_(self.attn[-1].weight)
        nn.init.zeros_(self.attn[-1].bias)
        self.alpha_scale = nn.Parameter(torch.tensor(1.0))
        self.age_slope = nn.Parameter(torch.tensor(0.0))
        self.long_out = nn.Linear(hidden, hidden)
        # short-term: a GRU over the last short_n items
        self.gru = nn.GRU(hidden, hidden, batch_first=True)
        self.short_out = nn.Linear(hidden, hidden)
        # gate: recency and drift features -> a correction to logit(alpha(days since last))
        self.gate = nn.Sequential(nn.Linear(GATE_FEATURES, 16), nn.GELU(), nn.Linear(16, 1))
        nn.init.zeros_(self.gate[-1].weight)
        nn.init.zeros_(self.gate[-1].bias)

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
        log_alpha = torch.log(alpha_weight(safe_ages, self.alpha_k).clamp(min=1e-6))
        if self.gate_mode == "alpha":
            logits = log_alpha
        else:
            logits = (
                self.attn(x).squeeze(-1)
                + self.alpha_scale * log_alpha
                - self.age_slope * torch.log1p(safe_ages)
            )
        logits = logits.masked_fill(~mask, float("-inf"))
        attn = torch.softmax(logits, dim=-1).nan_to_num(0.0)  # (B, L)
        long_vec = self.long_out((attn.unsqueeze(-1) * x).sum(dim=1))  # (B, H)

        # short-term side: the last short_n positions (histories are left-padded)
        xs = (x * mask.unsqueeze(-1))[:, -self.short_n :]  # (B, S, H), padding zeroed
        out, _ = self.gru(xs)
        short_vec = self.short_out(out[:, -1])  # (B, H)

        # gate features, from the history alone
        last_age = torch.where(mask, safe_ages, torch.full_like(safe_ages, 1e9)).min(dim=1).values
        last_age = torch.where(mask.any(dim=1), last_age, torch.zeros_like(last_age))
        n_hist = mask.sum(dim=1).float()
        cos = F.cosine_similarity(long_vec, short_vec, dim=-1)
        # how far the recent items sit from the long-term profile: mean cosine of the last
        # short_n item vectors to the long-term pooled item vector
        pooled = (attn.unsqueeze(-1) * x).sum(dim=1)
        recent_mask = mask[:, -self.short_n :]
        recent_cos = F.cosine_similarity(xs, pooled.unsqueeze(1), dim=-1)
        drift = 1 - (recent_cos * recent_mask).sum(1) / recent_mask.sum(1).clamp(min=1)
        feats = torch.stack(
            [torch.log1p(last_age), torch.log1p(n_hist), cos, drift, alpha_weight(last_age, 1.0)],
            dim=-1,
        )
        alpha_gate = alpha_weight(last_age, self.alpha_k)
        if self.gate_mode == "learned":
            prior = torch.logit(alpha_gate.clamp(1e-6, 1 - 1e-6))
            g = torch.sigmoid(prior + self.gate(feats).squeeze(-1))
        elif self.gate_mode == "alpha":
            g = alpha_gate
        elif self.gate_mode == "long":
            g = torch.ones_like(last_age)
        else:
            g = torch.zeros_like(last_age)
        user = g.unsqueeze(-1) * long_vec + (1 - g).unsqueeze(-1) * short_vec
        return user, g

    def forward(self, items: torch.Tensor, ages: torch.Tensor) -> torch.Tensor:
        user, _ = self.encode_users(items, ages)
        return user @ self.item_table().T  # (B, I+1)
