"""MovieLens 100K: ``u.data`` ratings become events, ``u.item`` titles and genres the text.

Every rating is one implicit interaction; its value is kept as a feature.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from recfusion.sources import RawData, SourceError

GENRES = [
    "unknown",
    "Action",
    "Adventure",
    "Animation",
    "Children's",
    "Comedy",
    "Crime",
    "Documentary",
    "Drama",
    "Fantasy",
    "Film-Noir",
    "Horror",
    "Musical",
    "Mystery",
    "Romance",
    "Sci-Fi",
    "Thriller",
    "War",
    "Western",
]


def load(path) -> RawData:
    folder = Path(path)
    data, item = folder / "u.data", folder / "u.item"
    for f in (data, item):
        if not f.exists():
            raise SourceError(f"{f}: not found; expected the MovieLens 100K folder")
    ratings = pd.read_csv(
        data, sep="\t", header=None, dtype=str, names=["user_id", "item_id", "rating", "ts"]
    )
    if ratings.shape[1] != 4 or ratings["ts"].isna().any():
        raise SourceError(f"{data}: expected 4 tab-separated columns per line")
    events = pd.DataFrame(
        {
            "event_id": [f"ml-{i + 1}" for i in range(len(ratings))],
            "user_id": ratings["user_id"],
            "item_id": ratings["item_id"],
            "event_type": "rating",
            "event_ts": ratings["ts"],
            "rating": ratings["rating"],
            "query": "",
            "source_loc": [f"u.data:{i + 1}" for i in range(len(ratings))],
        }
    )
    movies = pd.read_csv(
        item,
        sep="|",
        header=None,
        dtype=str,
        encoding="latin-1",
        keep_default_na=False,
        names=["item_id", "title", "release", "video", "url", *GENRES],
    )
    flags = movies[GENRES] == "1"
    genres = flags.apply(lambda row: [g for g in GENRES if row[g]], axis=1)
    items = pd.DataFrame(
        {
            "item_id": movies["item_id"],
            "title": movies["title"],
            "description": [
                f"{t}. Genres: {', '.join(g)}. Released {r}."
                for t, g, r in zip(movies["title"], genres, movies["release"], strict=True)
            ],
            "category": [g[0] if g else "unknown" for g in genres],
            "source_loc": [f"u.item:{i + 1}" for i in range(len(movies))],
        }
    )
    return RawData(events=events, items=items, name="movielens", numeric_ids=True)
