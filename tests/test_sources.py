"""Sources: the generator is reproducible; loaders read the real files; bad files stop."""

from __future__ import annotations

import pandas as pd
import pytest

from recfusion.settings import SyntheticSettings
from recfusion.sources import SourceError, beauty, files, movielens, synthetic
from tests.conftest import need_shared


def test_synthetic_is_seeded_and_has_known_structure(tmp_path):
    cfg = SyntheticSettings(
        n_users=30,
        n_categories=5,
        items_per_category=10,
        events_per_user=15,
        short_term_events=5,
        seed=11,
    )
    items, events, truth = synthetic.generate(cfg)
    items2, events2, truth2 = synthetic.generate(cfg)
    pd.testing.assert_frame_equal(events, events2)
    pd.testing.assert_frame_equal(truth, truth2)
    assert len(items) == 50 and truth["user_id"].nunique() == 30
    # the last item events of a user come mostly from their short-term category
    cat = items.set_index("item_id")["category"]
    good = events[events["item_id"].isin(cat.index)]
    last = good.sort_values("event_ts").groupby("user_id").tail(3)
    last_cat = last["item_id"].map(cat)
    short = last["user_id"].map(truth.set_index("user_id")["short_category"])
    assert (last_cat == short).mean() > 0.7
    folder = synthetic.write(tmp_path, cfg)
    assert {p.name for p in folder.iterdir()} >= {"items.csv", "events.csv", "truth.csv"}


def test_movielens_loader_reads_the_published_counts():
    raw = movielens.load(need_shared("ml-100k"))
    assert len(raw.events) == 100_000 and len(raw.items) == 1682
    assert raw.events["user_id"].nunique() == 943
    assert raw.items.loc[0, "title"] == "Toy Story (1995)"
    assert "Animation" in raw.items.loc[0, "description"]


def test_beauty_loader_keeps_file_order():
    raw = beauty.load(need_shared("amazon-beauty"))
    assert len(raw.events) == 198_502 and raw.events["user_id"].nunique() == 22_363
    first = raw.events[raw.events["user_id"] == raw.events["user_id"].iloc[0]]
    assert first["event_ts"].astype(int).is_monotonic_increasing


def _write(
    folder,
    events: str,
    items: str = "item_id,title,description,category\na,A,x,c\n",
    encoding="utf-8",
):
    folder.mkdir(exist_ok=True)
    (folder / "events.csv").write_bytes(
        events.encode(encoding) if isinstance(events, str) else events
    )
    (folder / "items.csv").write_text(items)
    return folder


HEADER = "event_id,user_id,item_id,event_type,event_ts\n"


@pytest.mark.parametrize(
    "content, message",
    [
        (
            "event_id,user_id,item_id,event_ts\n1,u,a,2025-01-01\n",
            r"line 1: missing column\(s\) event_type",
        ),
        ("event_id;user_id;item_id;event_type;event_ts\n1;u;a;view;2025\n", "not comma-separated"),
        ("", "file is empty"),
        (HEADER, "no data rows"),
        (
            (HEADER + "1,u,a,view,2025-01-01\n2,u\xe9,a,view,2025-01-01\n").encode("latin-1"),
            "line 3 column 4",
        ),
    ],
    ids=["missing-column", "wrong-delimiter", "empty-file", "header-only", "not-utf8"],
)
def test_whole_file_problems_name_file_and_line(tmp_path, content, message):
    folder = _write(tmp_path / "in", content)
    with pytest.raises(SourceError, match=message) as err:
        files.load(folder)
    assert "events.csv" in str(err.value)
