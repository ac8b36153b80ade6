"""A corpus of bad input, end to end through landing and dbt staging.

Each class of bad row is checked for the reason it is quarantined with, and every load
for raw = clean + quarantined. Whole-file classes are in test_sources.py.
"""

from __future__ import annotations

import csv

import duckdb
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from recfusion import pipeline
from recfusion.load import clean_events, clean_items, parse_timestamps
from tests.conftest import small_settings

GOOD_TS = "2025-03-01T10:00:00Z"
# (class, event row overrides, expected reason)
EVENT_CORPUS = [
    ("null event id", {"event_id": ""}, "missing_event_id"),
    ("null user id", {"user_id": ""}, "missing_user_id"),
    ("id with whitespace", {"user_id": "u 1"}, "malformed_id"),
    ("id with control char", {"item_id": "i\x071"}, "malformed_id"),
    ("unknown event type", {"event_type": "teleport"}, "unknown_event_type"),
    ("item event without item", {"item_id": ""}, "missing_item_id"),
    ("unparseable timestamp", {"event_ts": "yesterday-ish"}, "unparseable_timestamp"),
    ("impossible date", {"event_ts": "2025-02-30"}, "unparseable_timestamp"),
    ("far-past timestamp", {"event_ts": "1901-01-01"}, "timestamp_too_old"),
    ("future timestamp", {"event_ts": "2999-01-01"}, "timestamp_in_future"),
    ("huge epoch", {"event_ts": "99999999999999"}, "unparseable_timestamp"),
    ("non-numeric rating", {"event_type": "rating", "rating": "five"}, "rating_not_numeric"),
    ("NaN rating", {"event_type": "rating", "rating": "NaN"}, "rating_not_numeric"),
    ("infinite rating", {"event_type": "rating", "rating": "inf"}, "rating_not_numeric"),
    ("out-of-range rating", {"event_type": "rating", "rating": "11"}, "rating_out_of_range"),
    ("negative rating", {"event_type": "rating", "rating": "-1"}, "rating_out_of_range"),
    ("rating event without rating", {"event_type": "rating"}, "missing_rating"),
    (
        "formula text",
        {"event_type": "search", "item_id": "", "query": "=cmd|' /C calc'!A0"},
        "formula_like_text",
    ),
    (
        "very long text",
        {"event_type": "search", "item_id": "", "query": "spam " * 1000},
        "text_too_long",
    ),
    (
        "bidi override text",
        {"event_type": "search", "item_id": "", "query": "abc\u202edcb"},
        "odd_unicode",
    ),
    (
        "zero-width text",
        {"event_type": "search", "item_id": "", "query": "hi\u200bking"},
        "odd_unicode",
    ),
    ("unknown item", {"item_id": "no-such-item"}, "unknown_item"),
    ("replayed duplicate", {"event_id": "dup"}, "duplicate_event_id"),
]
ITEM_CORPUS = [
    ("item without id", {"item_id": ""}, "missing_item_id"),
    ("formula title", {"item_id": "x1", "title": "+SUM(A1:A9)"}, "formula_like_text"),
    ("control chars in text", {"item_id": "x2", "description": "bad\x00byte"}, "odd_unicode"),
    ("duplicate item id", {"item_id": "i1", "title": "second copy"}, "duplicate_item_id"),
]


def _event(i: int, **overrides) -> dict:
    row = {
        "event_id": f"e{i}",
        "user_id": f"u{i % 3}",
        "item_id": f"i{i % 4 + 1}",
        "event_type": "view",
        "event_ts": GOOD_TS,
        "rating": "",
        "query": "",
    }
    row.update(overrides)
    return row


def _write_corpus(folder):
    folder.mkdir(parents=True)
    good = [_event(i) for i in range(30)] + [_event(99, event_id="dup")]
    bad = [_event(100 + i, **over) for i, (_, over, _) in enumerate(EVENT_CORPUS)]
    events = pd.DataFrame(good + bad)
    events.to_csv(folder / "events.csv", index=False, quoting=csv.QUOTE_ALL)
    items = [
        {"item_id": f"i{k}", "title": f"Item {k}", "description": "fine", "category": "c"}
        for k in range(1, 5)
    ]
    items += [
        {"item_id": "", "title": "t", "description": "d", "category": "c", **over}
        for _, over, _ in ITEM_CORPUS
    ]
    pd.DataFrame(items).to_csv(folder / "items.csv", index=False)
    # line numbers of the bad rows in events.csv: header is line 1
    return {
        f"events.csv:{len(good) + 2 + i}": reason for i, (_, _, reason) in enumerate(EVENT_CORPUS)
    }


def test_every_class_of_bad_row_is_quarantined_with_its_reason(tmp_path):
    expected = _write_corpus(tmp_path / "data")
    assert len(EVENT_CORPUS) + len(ITEM_CORPUS) >= 20
    settings = small_settings(tmp_path / "home", source="files", path=tmp_path / "data")
    landed = pipeline.ingest(settings)
    pipeline.transform(settings)
    con = duckdb.connect(str(settings.warehouse), read_only=True)
    got = dict(
        con.execute("""
        select source_loc, reason from raw.quarantine where entity = 'events'
        union all
        select source_loc, reason from staging.stg_landing__events_quarantine
    """).fetchall()
    )
    for loc, reason in expected.items():
        assert got.get(loc) == reason, f"{loc}: expected {reason}, got {got.get(loc)}"
    item_reasons = {
        r
        for (r,) in con.execute("""
        select reason from raw.quarantine where entity = 'items'
        union all select reason from staging.stg_landing__items_quarantine""").fetchall()
    }
    assert item_reasons == {reason for *_, reason in ITEM_CORPUS}
    n_raw, n_clean, n_staged_out = con.execute("""
        select (select count(*) from raw.events), (select count(*) from
        staging.stg_landing__events), (select count(*) from
        staging.stg_landing__events_quarantine)""").fetchone()
    con.close()
    assert landed["raw_events"] == landed["landed_events"] + landed["quarantined_events"]
    assert n_raw == n_clean + n_staged_out
    assert landed["raw_items"] == landed["landed_items"] + landed["quarantined_items"]


def test_too_much_quarantine_blocks_the_run(tmp_path):
    from recfusion.validate import ValidationFailed

    _write_corpus(tmp_path / "data")  # 23 bad of 54 rows: far above 5%
    settings = small_settings(tmp_path / "home", source="files", path=tmp_path / "data")
    pipeline.ingest(settings)
    pipeline.transform(settings)
    with pytest.raises(ValidationFailed, match=r"quarantine rate .* above max_quarantine_rate"):
        pipeline.validate_marts(settings)


def test_numeric_id_sources_quarantine_text_ids():
    frame = pd.DataFrame(
        [_event(1, user_id="12", item_id="7"), _event(2, user_id="abc", item_id="7")]
    )
    frame["source_loc"] = ["u.data:1", "u.data:2"]
    clean, bad = clean_events(frame, numeric_ids=True)
    assert clean["user_id"].tolist() == ["12"] and bad["reason"].tolist() == ["non_numeric_id"]


text = st.text(alphabet=st.characters(codec="utf-8"), max_size=40)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(text, text, text, text, text, text, text), min_size=1, max_size=20))
def test_any_text_rows_are_split_without_loss(rows):
    frame = pd.DataFrame(
        rows,
        columns=["event_id", "user_id", "item_id", "event_type", "event_ts", "rating", "query"],
    )
    frame["source_loc"] = [f"f:{i}" for i in range(len(frame))]
    clean, bad = clean_events(frame, now=pd.Timestamp("2026-01-01", tz="UTC"))
    assert len(clean) + len(bad) == len(frame)
    assert set(clean["source_loc"]).isdisjoint(bad["source_loc"])
    assert bad["reason"].notna().all()
    assert clean["event_ts"].notna().all()


@settings(max_examples=200, deadline=None)
@given(
    st.one_of(
        text,
        st.integers(-(10**15), 10**15).map(str),
        st.datetimes(timezones=st.timezones()).map(lambda d: d.isoformat()),
    )
)
def test_timestamp_parser_never_raises_and_keeps_instants(value):
    parsed = parse_timestamps(pd.Series([value]))
    assert len(parsed) == 1
    if not pd.isna(parsed.iloc[0]):
        assert parsed.dt.tz is not None


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(text, text, text, text), min_size=1, max_size=10))
def test_any_item_rows_are_split_without_loss(rows):
    frame = pd.DataFrame(rows, columns=["item_id", "title", "description", "category"])
    frame["source_loc"] = [f"items.csv:{i}" for i in range(len(frame))]
    clean, bad = clean_items(frame)
    assert len(clean) + len(bad) == len(frame)
