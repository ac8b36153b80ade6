"""A seeded synthetic catalogue and event stream with known long- and short-term interests.

Each user has a stable long-term mix over two or three categories that drives months of
history, and a final session that shifts to a short-term category. The held-out target is
drawn from the short-term category, so a model must weigh recent behaviour to find it,
while reasons and cold users still lean on the long-term mix. The ground truth is written
beside the data as ``truth.csv``.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd

log = logging.getLogger(__name__)

CATEGORIES = {
    "hiking": ("trail", "backpack", "boots", "summit", "compass", "tent"),
    "cooking": ("skillet", "recipe", "spice", "knife", "broth", "oven"),
    "jazz": ("saxophone", "trumpet", "swing", "bebop", "vinyl", "quartet"),
    "science fiction": ("starship", "android", "galaxy", "time travel", "alien", "robot"),
    "gardening": ("seedling", "compost", "trowel", "tulip", "greenhouse", "soil"),
    "photography": ("lens", "tripod", "aperture", "shutter", "portrait", "film camera"),
    "yoga": ("mat", "breathing", "pose", "meditation", "stretch", "balance"),
    "chess": ("opening", "endgame", "knight", "gambit", "board", "grandmaster"),
    "baking": ("sourdough", "flour", "croissant", "whisk", "pastry", "yeast"),
    "cycling": ("bicycle", "helmet", "gear", "saddle", "road bike", "chain"),
    "astronomy": ("telescope", "nebula", "planet", "star chart", "eclipse", "orbit"),
    "knitting": ("yarn", "needles", "sweater", "wool", "pattern", "scarf"),
    "fishing": ("rod", "reel", "lure", "trout", "tackle", "river"),
    "woodworking": ("chisel", "oak", "workbench", "plane", "joinery", "sawdust"),
    "coffee": ("espresso", "grinder", "roast", "latte", "pour-over", "bean"),
    "painting": ("canvas", "brush", "watercolour", "easel", "acrylic", "palette"),
}
ADJECTIVES = (
    "classic",
    "compact",
    "premium",
    "beginner",
    "expert",
    "handmade",
    "light",
    "durable",
    "vintage",
    "modern",
)
FORMS = (
    "guide to the {n}",
    "{n} kit",
    "set with {n}",
    "book about the {n}",
    "{n} starter pack",
    "{n} accessory",
)
DAY = 86_400


def generate(cfg, start: str = "2025-01-01") -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Return (items, events, truth) frames; the same config and seed give the same frames."""
    rng = np.random.default_rng(cfg.seed)
    names = list(CATEGORIES)[: cfg.n_categories]
    if cfg.n_categories > len(CATEGORIES):
        names += [f"category {i}" for i in range(len(CATEGORIES), cfg.n_categories)]

    items = []
    for c, cat in enumerate(names):
        nouns = CATEGORIES.get(cat, (f"thing {c}", f"object {c}", f"tool {c}"))
        for j in range(cfg.items_per_category):
            noun = nouns[j % len(nouns)]
            adj = ADJECTIVES[(j // len(nouns)) % len(ADJECTIVES)]
            form = FORMS[j % len(FORMS)].format(n=noun)
            items.append(
                (
                    f"i{c:02d}{j:03d}",
                    f"{adj.title()} {form}",
                    f"A {adj} {form} for people who love {cat}.",
                    cat,
                )
            )
    items_df = pd.DataFrame(items, columns=["item_id", "title", "description", "category"])
    by_cat = {
        c: items_df.index[items_df["category"] == cat].to_numpy() for c, cat in enumerate(names)
    }

    t0 = pd.Timestamp(start, tz="UTC").value // 10**9
    rows, truth = [], []
    n_long_events = cfg.events_per_user - cfg.short_term_events
    for u in range(cfg.n_users):
        user = f"u{u:05d}"
        k = int(rng.integers(2, 4))
        long_cats = rng.choice(len(names), size=k, replace=False)
        mix = rng.dirichlet(np.ones(k) * 2.0)
        others = np.setdiff1d(np.arange(len(names)), long_cats)
        short_cat = int(rng.choice(others))
        seen: set[int] = set()

        def pick(cat: int, seen: set[int] = seen) -> int:
            pool = [i for i in by_cat[cat] if i not in seen]
            if not pool:
                pool = [i for i in range(len(items_df)) if i not in seen]
            choice = int(rng.choice(pool))
            seen.add(choice)
            return choice

        # long-term history: spread over ~6 months, one session every few days
        ts = t0 + int(rng.integers(0, 20 * DAY))
        for _ in range(n_long_events):
            ts += int(rng.exponential(4 * DAY))
            rows.append((user, pick(int(rng.choice(long_cats, p=mix))), ts))
        # short-term shift: one dense session two weeks or more later
        ts += int(rng.integers(14, 40) * DAY)
        for s in range(cfg.short_term_events):
            ts += int(rng.integers(30, 600))
            cat = (
                short_cat
                if rng.random() < 0.85 or s >= cfg.short_term_events - 2
                else int(rng.choice(long_cats, p=mix))
            )
            rows.append((user, pick(cat), ts))
        truth.append(
            (
                user,
                "|".join(names[c] for c in long_cats),
                "|".join(f"{w:.3f}" for w in mix),
                names[short_cat],
            )
        )

    ev = pd.DataFrame(rows, columns=["user_id", "item_idx", "ts"])
    n = len(ev)
    types = rng.choice(["view", "cart", "purchase", "rating"], size=n, p=[0.6, 0.15, 0.15, 0.1])
    events = pd.DataFrame(
        {
            "event_id": [f"e{i:08d}" for i in range(n)],
            "user_id": ev["user_id"],
            "item_id": items_df["item_id"].to_numpy()[ev["item_idx"]],
            "event_type": types,
            "event_ts": pd.to_datetime(ev["ts"], unit="s", utc=True).dt.strftime(
                "%Y-%m-%dT%H:%M:%SZ"
            ),
            "rating": np.where(types == "rating", rng.integers(1, 6, size=n).astype(str), ""),
            "query": "",
        }
    )
    # searches carry a query and no item; they shape nothing but are landed and kept
    searches = events.sample(frac=0.05, random_state=cfg.seed).copy()
    searches["event_id"] = "s" + searches["event_id"].str[1:]
    searches["query"] = (
        items_df.set_index("item_id").loc[searches["item_id"], "category"].to_numpy()
    )
    searches["item_id"], searches["event_type"], searches["rating"] = "", "search", ""
    events = pd.concat([events, searches]).sort_values(["event_ts", "event_id"], kind="stable")
    events = _break_some_rows(events.reset_index(drop=True), cfg, rng)
    truth_df = pd.DataFrame(
        truth, columns=["user_id", "long_categories", "long_weights", "short_category"]
    )
    return items_df, events, truth_df


def _break_some_rows(events: pd.DataFrame, cfg, rng) -> pd.DataFrame:
    """Damage a few rows the way real feeds do, so the quarantine path always runs."""
    if cfg.bad_row_rate == 0:
        return events
    events = events.astype(object)
    damage = [
        ("event_ts", "not a time"),
        ("user_id", ""),
        ("event_type", "teleport"),
        ("item_id", "no-such-item"),
        ("rating", "eleven"),
    ]
    n_bad = max(int(len(events) * cfg.bad_row_rate), len(damage))  # every kind at least once
    bad = rng.choice(len(events), size=n_bad, replace=False)
    for j, row in enumerate(bad):
        column, value = damage[j % len(damage)]
        if column == "rating":
            events.at[row, "event_type"] = "rating"
        events.at[row, column] = value
    # a replayed duplicate: the same event delivered twice
    dup = events.iloc[[int(rng.integers(len(events)))]]
    return pd.concat([events, dup], ignore_index=True)


def write(folder: Path, cfg) -> Path:
    """Generate and write items.csv, events.csv and truth.csv into ``folder``; return it."""
    folder.mkdir(parents=True, exist_ok=True)
    items, events, truth = generate(cfg)
    for name, frame in (("items", items), ("events", events), ("truth", truth)):
        tmp = folder / f".{name}.csv.tmp"
        frame.to_csv(tmp, index=False)
        tmp.replace(folder / f"{name}.csv")
    log.info(
        "synthetic data: %d items, %d events, %d users in %s",
        len(items),
        len(events),
        len(truth),
        folder,
    )
    return folder
