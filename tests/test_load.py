"""Landing: each bad row is quarantined with its reason; nothing is lost."""

from __future__ import annotations

import pandas as pd

from recfusion.load import clean_events, parse_timestamps

ROWS = [
    # event_id, user_id, item_id, event_type, event_ts, rating, query, expected reason
    ("e1", "u1", "i1", "view", "2025-03-01T10:00:00Z", "", "", None),
    ("e2", "u1", "i2", "rating", "1741000000", "4", "", None),
    ("e3", "u1", "", "search", "2025-03-01 10:00:00+02:00", "", "hiking boots", None),
    ("", "u1", "i1", "view", "2025-03-01", "", "", "missing_event_id"),
    ("e5", "", "i1", "view", "2025-03-01", "", "", "missing_user_id"),
    ("e6", "u1", "i1", "teleport", "2025-03-01", "", "", "unknown_event_type"),
    ("e7", "u1", "", "view", "2025-03-01", "", "", "missing_item_id"),
    ("e8", "u1", "i1", "view", "2025-13-45", "", "", "unparseable_timestamp"),
    ("e9", "u1", "i1", "view", "1970-01-02", "", "", "timestamp_too_old"),
    ("e10", "u1", "i1", "view", "2999-01-01", "", "", "timestamp_in_future"),
    ("e11", "u1", "i1", "rating", "2025-03-01", "eleven", "", "rating_not_numeric"),
    ("e12", "u1", "i1", "rating", "2025-03-01", "nan", "", "rating_not_numeric"),
    ("e13", "u1", "i1", "rating", "2025-03-01", "7", "", "rating_out_of_range"),
    ("e14", "u1", "i1", "rating", "2025-03-01", "", "", "missing_rating"),
    ("e15", "u1", "", "search", "2025-03-01", "", '=HYPERLINK("x")', "formula_like_text"),
    ("e16", "u1", "", "search", "2025-03-01", "", "x" * 3000, "text_too_long"),
]


def test_each_bad_row_gets_its_reason_and_nothing_is_lost():
    frame = pd.DataFrame(
        [r[:7] for r in ROWS],
        columns=["event_id", "user_id", "item_id", "event_type", "event_ts", "rating", "query"],
    )
    frame["source_loc"] = [f"events.csv:{i + 2}" for i in range(len(frame))]
    clean, quarantined = clean_events(frame, now=pd.Timestamp("2026-01-01", tz="UTC"))
    assert len(clean) + len(quarantined) == len(frame)
    expected = {f"events.csv:{i + 2}": r[7] for i, r in enumerate(ROWS) if r[7]}
    got = dict(zip(quarantined["source_loc"], quarantined["reason"], strict=True))
    assert got == expected
    assert sorted(clean["event_id"]) == ["e1", "e2", "e3"]
    # time zones: an offset is honoured and stored as UTC
    assert str(clean.set_index("event_id").loc["e3", "event_ts"]) == "2025-03-01 08:00:00"
    assert clean.set_index("event_id").loc["e2", "rating"] == 4.0


def test_unix_seconds_and_iso_parse_to_the_same_instant():
    parsed = parse_timestamps(pd.Series(["1735689600", "2025-01-01T00:00:00Z", "2025-01-01"]))
    assert parsed.nunique() == 1


def test_feedback_events_keep_their_run_and_model_version():
    frame = pd.DataFrame(
        [
            ("f1", "u1", "i1", "impression", "2025-03-01", "", "", "run-a", "3"),
            ("f2", "u1", "i1", "click", "2025-03-01", "", "", "run-a", "3"),
            ("f3", "u1", "i1", "click", "2025-03-01", "", "", "run a", "3"),
            ("f4", "u1", "i1", "impression", "2025-03-01", "", "", "run-a", "v3"),
            ("f5", "u1", "i2", "view", "2025-03-01", "", "", "", ""),
        ],
        columns=[
            *["event_id", "user_id", "item_id", "event_type", "event_ts", "rating", "query"],
            *["rec_run_id", "model_version"],
        ],
    )
    frame["source_loc"] = [f"events.csv:{i + 2}" for i in range(len(frame))]
    clean, quarantined = clean_events(frame, now=pd.Timestamp("2026-01-01", tz="UTC"))
    assert quarantined["reason"].tolist() == ["malformed_id", "model_version_not_numeric"]
    clean = clean.set_index("event_id")
    assert clean.loc["f2", "rec_run_id"] == "run-a" and clean.loc["f2", "model_version"] == 3
    assert pd.isna(clean.loc["f5", "rec_run_id"]) and pd.isna(clean.loc["f5", "model_version"])
