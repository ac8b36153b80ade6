"""Landing: raw frames in, typed ``raw.events`` and ``raw.items`` out, bad rows quarantined.

A row that cannot be parsed (no id, a time that is not a time, an unknown event type, a
rating that is not a number in range, a model version that is not an integer, text that
would run as a spreadsheet formula) goes
to ``raw.quarantine`` with a reason code, the file and line it came from and the row
itself as JSON (its user id pseudonymised when a key is set, see ``recfusion.privacy``).
Nothing else is dropped: raw rows = landed rows + quarantined rows, where raw rows leave
out the rows of users erased with ``recfusion forget``.
Rows that parse but make no sense together (unknown items, replayed events) are dbt's
to quarantine in staging.
"""

from __future__ import annotations

import hashlib
import logging

import numpy as np
import pandas as pd

from recfusion import names, privacy
from recfusion.sources import EVENT_COLUMNS, EVENT_TYPES, FEEDBACK_COLUMNS, RawData
from recfusion.warehouse import connect

log = logging.getLogger(__name__)

OLDEST = pd.Timestamp("1995-01-01", tz="UTC")
FORMULA_PREFIXES = ("=", "+", "@")
MAX_TEXT = 2000
# control characters (but tab and newline), bidirectional overrides, zero-width marks
ODD_UNICODE = r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2066-\u2069\ufeff\ufffd]"
BAD_ID = r"\s|[\x00-\x1f\x7f]"


def _first_reason(checks: list[tuple[str, pd.Series]], index: pd.Index) -> pd.Series:
    """The first failing check's code per row, or NA where every check passes."""
    reason = pd.Series(pd.NA, index=index, dtype="object")
    for code, failed in checks:
        reason = reason.where(reason.notna() | ~failed.fillna(False), code)
    return reason


def parse_timestamps(values: pd.Series) -> pd.Series:
    """Parse ISO-8601 (UTC unless an offset is given) or Unix seconds; NaT where neither."""
    text = values.astype("string").str.strip()
    numeric = text.str.fullmatch(r"-?\d{1,12}(\.\d+)?").fillna(False)
    # microseconds: far-future and far-past times parse (and are then quarantined)
    out = pd.Series(pd.NaT, index=values.index, dtype="datetime64[us, UTC]")
    if numeric.any():
        secs = pd.to_numeric(text[numeric], errors="coerce")
        secs = secs.where(secs.abs() < 2**40)  # beyond year ~36000: not a time
        out[numeric] = pd.to_datetime(secs, unit="s", utc=True, errors="coerce").dt.as_unit("us")
    rest = ~numeric & text.notna() & (text != "")
    if rest.any():
        parsed = pd.to_datetime(text[rest], utc=True, errors="coerce", format="ISO8601")
        out[rest] = parsed.dt.as_unit("us")
    return out


def _id_checks(ids: list[pd.Series], numeric: bool) -> list[tuple[str, pd.Series]]:
    checks = []
    for values in ids:
        present = values.fillna("") != ""
        checks.append(("malformed_id", present & values.str.contains(BAD_ID, regex=True)))
        if numeric:
            checks.append(("non_numeric_id", present & ~values.str.fullmatch(r"\d+").fillna(False)))
    return checks


def clean_events(
    events: pd.DataFrame,
    now: pd.Timestamp | None = None,
    numeric_ids: bool = False,
    pseudo: privacy.Pseudonymiser | None = None,
):
    """Split raw event rows into (typed clean rows, quarantined rows with reasons).

    With ``pseudo`` the user ids of both are pseudonymised, once checked as given.
    """
    now = now or pd.Timestamp.now(tz="UTC")
    s = {c: events[c].astype("string").str.strip() for c in EVENT_COLUMNS}
    for c in FEEDBACK_COLUMNS:  # optional: a source without feedback leaves them out
        s[c] = events[c].astype("string").str.strip() if c in events else _empty(events.index)
    has_version = s["model_version"].fillna("") != ""
    version_ok = s["model_version"].str.fullmatch(r"\d{1,9}").fillna(False)
    model_version = pd.to_numeric(s["model_version"].where(version_ok), errors="coerce")
    etype = s["event_type"].str.lower()
    ts = parse_timestamps(events["event_ts"])
    rating_text = s["rating"].fillna("")
    rating = pd.to_numeric(rating_text.where(rating_text != "", None), errors="coerce")
    has_rating = rating_text != ""
    query = s["query"].fillna("")
    checks = [
        ("missing_event_id", s["event_id"].isna() | (s["event_id"] == "")),
        ("missing_user_id", s["user_id"].isna() | (s["user_id"] == "")),
        ("unknown_event_type", ~etype.isin(EVENT_TYPES)),
        ("missing_item_id", (etype != "search") & (s["item_id"].isna() | (s["item_id"] == ""))),
        *_id_checks([s["user_id"], s["item_id"]], numeric_ids),
        *_id_checks([s["rec_run_id"]], numeric=False),
        ("model_version_not_numeric", has_version & ~version_ok),
        ("unparseable_timestamp", ts.isna()),
        ("timestamp_too_old", ts < OLDEST),
        ("timestamp_in_future", ts > now + pd.Timedelta(days=1)),
        ("rating_not_numeric", has_rating & ~np.isfinite(rating.astype("float64")).fillna(False)),
        ("rating_out_of_range", has_rating & ((rating < 0) | (rating > 5))),
        ("missing_rating", (etype == "rating") & ~has_rating),
        ("formula_like_text", query.str.startswith(FORMULA_PREFIXES)),
        ("text_too_long", query.str.len() > MAX_TEXT),
        ("odd_unicode", query.str.contains(ODD_UNICODE, regex=True)),
    ]
    reason = _first_reason(checks, events.index)
    bad = reason.notna()
    clean = pd.DataFrame(
        {
            "event_id": s["event_id"],
            "user_id": privacy.map_ids(s["user_id"], pseudo),
            "item_id": s["item_id"].where(s["item_id"] != "", None),
            "event_type": etype,
            "event_ts": ts.dt.tz_convert("UTC").dt.tz_localize(None),
            "rating": rating.astype("float64"),
            "query": query.where(query != "", None),
            "rec_run_id": s["rec_run_id"].where(s["rec_run_id"] != "", None),
            "model_version": model_version.astype("Int64"),
            "source_loc": events["source_loc"],
        }
    )[~bad]
    bad_rows = events[bad]
    if pseudo is not None:  # the quarantined row keeps its other fields as they came
        bad_rows = bad_rows.assign(user_id=privacy.map_ids(bad_rows["user_id"], pseudo))
    quarantined = _quarantine_rows(bad_rows, reason[bad], "events")
    return clean.reset_index(drop=True), quarantined


def _empty(index: pd.Index) -> pd.Series:
    return pd.Series(pd.NA, index=index, dtype="string")


def clean_items(items: pd.DataFrame, numeric_ids: bool = False):
    s = {
        c: items[c].astype("string").str.strip()
        for c in ("item_id", "title", "description", "category")
    }
    text = s["title"].fillna("") + " " + s["description"].fillna("")
    checks = [
        ("missing_item_id", s["item_id"].isna() | (s["item_id"] == "")),
        *_id_checks([s["item_id"]], numeric_ids),
        ("formula_like_text", s["title"].fillna("").str.startswith(FORMULA_PREFIXES)),
        ("text_too_long", text.str.len() > MAX_TEXT),
        ("odd_unicode", text.str.contains(ODD_UNICODE, regex=True)),
    ]
    reason = _first_reason(checks, items.index)
    bad = reason.notna()
    clean = pd.DataFrame(
        {
            "item_id": s["item_id"],
            "title": s["title"].fillna(""),
            "description": s["description"].fillna(""),
            "category": s["category"].where(s["category"].fillna("") != "", "unknown"),
            "source_loc": items["source_loc"],
        }
    )[~bad]
    return clean.reset_index(drop=True), _quarantine_rows(items[bad], reason[bad], "items")


def _quarantine_rows(rows: pd.DataFrame, reason: pd.Series, entity: str) -> pd.DataFrame:
    record = (
        rows.drop(columns=["source_loc"]).astype("string").to_json(orient="records", lines=True)
    )
    return pd.DataFrame(
        {
            "entity": entity,
            "stage": "landing",
            "source_loc": rows["source_loc"].astype("string"),
            "reason": reason.astype("string"),
            "record": record.splitlines() if len(rows) else [],
        }
    )


def content_hash(raw: RawData) -> str:
    digest = hashlib.sha256()
    for frame in (raw.events, raw.items):
        digest.update(pd.util.hash_pandas_object(frame.astype("string"), index=False).values)
    return digest.hexdigest()[:16]


def land(settings, raw: RawData) -> dict:
    """Replace the raw tables with this load; return counts. Rerunning gives the same tables.

    User ids are pseudonymised when a key is set (``recfusion.privacy``); rows of forgotten
    users are dropped before anything else and counted as ``forgotten_events``.
    """
    pseudo = privacy.pseudonymiser()
    load_id = content_hash(raw)
    if pseudo is not None:  # another key gives other ids: staging must see a new load
        load_id = hashlib.sha256(f"{load_id}|{privacy.key_fingerprint()}".encode()).hexdigest()
        load_id = load_id[:16]
    with connect(settings.warehouse) as con:
        # read under the writer lock: a forget cannot slip in between the check and the write
        raw_events, forgotten = privacy.drop_forgotten(
            raw.events, privacy.forgotten_hashes(con), pseudo
        )
        events, q_events = clean_events(raw_events, numeric_ids=raw.numeric_ids, pseudo=pseudo)
        items, q_items = clean_items(raw.items, numeric_ids=raw.numeric_ids)
        quarantine = pd.concat([q_events, q_items], ignore_index=True)
        quarantine["load_id"] = load_id
        events["load_id"], items["load_id"] = load_id, load_id
        con.execute("create schema if not exists raw")
        con.execute("begin")
        for name, frame in (("events", events), ("items", items), ("quarantine", quarantine)):
            con.register("frame", frame)
            table = names.identifier(name, "raw table")  # a constant, checked all the same
            con.execute(f"create or replace table raw.{table} as select * from frame")
            con.unregister("frame")
        con.execute("""create table if not exists raw.loads (load_id varchar, source varchar,
                       raw_events bigint, landed_events bigint, quarantined_events bigint,
                       raw_items bigint, landed_items bigint, quarantined_items bigint,
                       loaded_at timestamp)""")
        con.execute("delete from raw.loads where load_id = ?", [load_id])
        con.execute(
            "insert into raw.loads values (?, ?, ?, ?, ?, ?, ?, ?, now()::timestamp)",
            [
                load_id,
                raw.name,
                len(raw_events),
                len(events),
                len(q_events),
                len(raw.items),
                len(items),
                len(q_items),
            ],
        )
        con.execute("commit")
    summary = {
        "load_id": load_id,
        "source": raw.name,
        "raw_events": len(raw_events),
        "landed_events": len(events),
        "quarantined_events": len(q_events),
        "forgotten_events": forgotten,
        "raw_items": len(raw.items),
        "landed_items": len(items),
        "quarantined_items": len(q_items),
    }
    if forgotten:
        log.warning("landing dropped %d event rows of forgotten users", forgotten)
    if len(q_events):
        top = q_events["reason"].value_counts().head(5).to_dict()
        log.warning(
            "landing quarantined %d of %d event rows: %s", len(q_events), len(raw_events), top
        )
    log.info(
        "landed %(landed_events)d events and %(landed_items)d items (load %(load_id)s)", summary
    )
    return summary
