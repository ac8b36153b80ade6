"""DuckDB connections and the single-writer rule.

DuckDB lets one process write a database file at a time. Every writer in recfusion takes
an exclusive file lock beside the warehouse first, so a second writer waits its turn
instead of failing; readers of published results never open the warehouse at all.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import time
from collections.abc import Iterator
from pathlib import Path

import duckdb

log = logging.getLogger(__name__)


class WarehouseBusy(RuntimeError):
    """Another writer held the warehouse for longer than the wait allowed."""


@contextlib.contextmanager
def writer_lock(warehouse: Path, timeout_s: float = 600.0) -> Iterator[None]:
    """Hold the exclusive writer lock of ``warehouse`` for the duration of the block."""
    warehouse.parent.mkdir(parents=True, exist_ok=True)
    lock_path = warehouse.with_suffix(".lock")
    with lock_path.open("w") as fh:
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise WarehouseBusy(
                        f"{warehouse}: writer lock held for over {timeout_s}s"
                    ) from None
                time.sleep(0.2)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


@contextlib.contextmanager
def connect(warehouse: Path, read_only: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
    """Open the warehouse; writers hold the writer lock while the connection is open."""
    if read_only:
        if not warehouse.exists():
            raise FileNotFoundError(f"{warehouse}: no warehouse yet; run the pipeline first")
        con = duckdb.connect(str(warehouse), read_only=True)
        try:
            yield con
        finally:
            con.close()
        return
    with writer_lock(warehouse):
        con = duckdb.connect(str(warehouse))
        try:
            yield con
        finally:
            con.close()


def table_exists(con: duckdb.DuckDBPyConnection, schema: str, name: str) -> bool:
    row = con.execute(
        "select count(*) from information_schema.tables where table_schema = ? and table_name = ?",
        [schema, name],
    ).fetchone()
    return bool(row and row[0])
