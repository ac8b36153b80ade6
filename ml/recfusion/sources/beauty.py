"""Amazon Beauty 5-core in the S3-Rec format: ``Beauty.txt`` holds ``user item item ...``.

The file order is the time order and there are no timestamps, so each user's events are
placed one day apart ending on a fixed date: order is exact, ages are only ordinal.
Items have no words, only attribute ids (``Beauty_item2attributes.json``); their text is
built from those ids, so text embeddings carry little for this data set.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from recfusion.sources import RawData, SourceError

END = pd.Timestamp("2014-07-01", tz="UTC").value // 10**9
DAY = 86_400


def load(path) -> RawData:
    folder = Path(path)
    seq_file = folder / "Beauty.txt" if folder.is_dir() else folder
    if not seq_file.exists():
        raise SourceError(f"{seq_file}: not found; expected the S3-Rec Beauty.txt")
    users, items, ts, locs = [], [], [], []
    with seq_file.open(encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, start=1):
            parts = line.split()
            if not parts:
                continue
            user, seq = parts[0], parts[1:]
            for pos, item in enumerate(seq):
                users.append(user)
                items.append(item)
                ts.append(str(END - (len(seq) - 1 - pos) * DAY))
                locs.append(f"Beauty.txt:{lineno}")
    events = pd.DataFrame(
        {
            "event_id": [f"beauty-{i + 1}" for i in range(len(users))],
            "user_id": users,
            "item_id": items,
            "event_type": "purchase",
            "event_ts": ts,
            "rating": "",
            "query": "",
            "source_loc": locs,
        }
    )
    attrs_file = seq_file.parent / "Beauty_item2attributes.json"
    attrs = json.loads(attrs_file.read_text()) if attrs_file.exists() else {}
    ids = sorted(set(items), key=int)
    item_frame = pd.DataFrame(
        {
            "item_id": ids,
            "title": [f"Beauty product {i}" for i in ids],
            "description": [
                f"Beauty product {i} with attributes " + " ".join(f"a{a}" for a in attrs.get(i, []))
                for i in ids
            ],
            "category": [f"attribute {attrs[i][0]}" if attrs.get(i) else "unknown" for i in ids],
            "source_loc": [f"Beauty_item2attributes.json:{i}" for i in ids],
        }
    )
    return RawData(events=events, items=item_frame, name="beauty", numeric_ids=True)
