"""Generic events and items from CSV or Parquet files in one folder.

The folder holds ``events.csv`` (or ``events.parquet``) and ``items.csv`` (or
``items.parquet``) with the columns of the landing contract (see ``recfusion.sources``).
``rating``, ``query``, ``rec_run_id`` and ``model_version`` may be absent. CSV files
are UTF-8 with a header row.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from recfusion.sources import EVENT_COLUMNS, FEEDBACK_COLUMNS, ITEM_COLUMNS, RawData, SourceError

OPTIONAL = {"rating", "query", "description", "category", *FEEDBACK_COLUMNS}


def read_table(path: Path, columns: list[str]) -> pd.DataFrame:
    """Read one file as text columns and add ``source_loc``; whole-file problems raise."""
    if not path.exists():
        raise SourceError(f"{path}: file not found")
    if path.stat().st_size == 0:
        raise SourceError(f"{path}: file is empty")
    if path.suffix == ".parquet":
        frame = pd.read_parquet(path).astype(str)
        first_data_line = 0
    else:
        _check_utf8(path)
        frame = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8")
        first_data_line = 2  # line 1 is the header
        if len(frame.columns) == 1 and any(d in frame.columns[0] for d in (";", "\t", "|")):
            raise SourceError(
                f"{path} line 1: header '{frame.columns[0][:60]}' has one column;"
                " the file is not comma-separated"
            )
    missing = [c for c in columns if c not in frame.columns and c not in OPTIONAL]
    if missing:
        raise SourceError(
            f"{path} line 1: missing column(s) {', '.join(missing)};"
            f" found {', '.join(map(str, frame.columns))}"
        )
    if frame.empty:
        raise SourceError(f"{path}: no data rows")
    for c in columns:
        if c not in frame.columns:
            frame[c] = ""
    frame = frame[columns].copy()
    frame["source_loc"] = [f"{path.name}:{i + first_data_line}" for i in range(len(frame))]
    return frame


def _check_utf8(path: Path) -> None:
    with path.open("rb") as fh:
        for lineno, line in enumerate(fh, start=1):
            try:
                line.decode("utf-8")
            except UnicodeDecodeError as err:
                raise SourceError(
                    f"{path} line {lineno} column {err.start + 1}: byte "
                    f"{line[err.start : err.start + 1]!r} is not UTF-8"
                ) from None


def _pick(folder: Path, stem: str) -> Path:
    for suffix in (".parquet", ".csv"):
        if (folder / f"{stem}{suffix}").exists():
            return folder / f"{stem}{suffix}"
    raise SourceError(f"{folder}: no {stem}.csv or {stem}.parquet")


def load(path, name: str = "files") -> RawData:
    folder = Path(path)
    if not folder.is_dir():
        raise SourceError(f"{folder}: not a folder with events and items files")
    events = read_table(_pick(folder, "events"), EVENT_COLUMNS + FEEDBACK_COLUMNS)
    items = read_table(_pick(folder, "items"), ITEM_COLUMNS)
    return RawData(events=events, items=items, name=name)
