"""Publishing: versioned snapshots, the pointer swap, rollback, and readers during publishes."""

from __future__ import annotations

import json
import subprocess
import sys
import time

import duckdb
import pandas as pd
import pytest

from recfusion.publish import current, publish, read_published, rollback, versions
from recfusion.settings import Settings

READER = r"""
import json, sys, time
from pathlib import Path
import pandas as pd
from recfusion.publish import content_checksum
pointer, stop, out = Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3])
reads, errors, seen, worst = 0, [], set(), 0.0
(out.parent / "ready").touch()
while not stop.exists():
    start = time.perf_counter()
    try:
        meta = json.loads(pointer.read_text())
        frame = pd.read_parquet(meta["path"])
        if len(frame) != meta["rows"] or content_checksum(frame) != meta["checksum"]:
            errors.append(f"version {meta['version']}: rows or checksum differ")
        if frame["score"].nunique() != 1 or frame["score"].iloc[0] != meta["version"]:
            errors.append(f"version {meta['version']}: mixed content")
        seen.add(meta["version"])
    except Exception as err:
        errors.append(repr(err))
    worst = max(worst, time.perf_counter() - start)
    reads += 1
out.write_text(json.dumps({"reads": reads, "errors": errors[:5], "versions": sorted(seen),
                           "worst_read_s": worst}))
"""


def _candidate(settings: Settings, version_score: float, users: int = 200, k: int = 10):
    frame = pd.DataFrame(
        [
            (f"u{u}", r, f"i{r}", version_score, "because", 1, "run")
            for u in range(users)
            for r in range(1, k + 1)
        ],
        columns=["user_id", "rank", "item_id", "score", "reason", "model_version", "run_id"],
    )
    con = duckdb.connect(str(settings.warehouse))
    con.register("f", frame)
    con.execute("create or replace table main.recommendations_candidate as select * from f")
    con.close()


@pytest.fixture
def settings(tmp_path):
    s = Settings(home=tmp_path / "home")
    s.ensure_dirs()
    return s


def test_versions_rollback_and_the_runs_table(settings):
    for score in (1.0, 2.0, 3.0):
        _candidate(settings, score)
        assert publish(settings)["published"]
    assert versions(settings) == [1, 2, 3] and current(settings)["version"] == 3
    back = rollback(settings)
    assert back["version"] == 2 and read_published(settings)["score"].eq(2.0).all()
    assert rollback(settings, 1)["version"] == 1
    con = duckdb.connect(str(settings.warehouse), read_only=True)
    assert con.execute("select distinct score from main.recommendations").fetchall() == [(1.0,)]
    runs = con.execute(
        "select version, action from main.recommendation_runs order by recorded_at"
    ).fetchall()
    con.close()
    assert runs == [
        (1, "publish"),
        (2, "publish"),
        (3, "publish"),
        (2, "rollback"),
        (1, "rollback"),
    ]
    # a new publication after a rollback takes a fresh number, never reusing one
    _candidate(settings, 4.0)
    assert publish(settings)["version"] == 4
    with pytest.raises(ValueError, match="version 9 has no snapshot"):
        rollback(settings, 9)


def test_a_reader_in_another_process_never_sees_a_partial_or_mixed_result(settings, tmp_path):
    _candidate(settings, 1.0, users=2000)
    publish(settings)
    stop, out = tmp_path / "stop", tmp_path / "reader.json"
    reader = subprocess.Popen(
        [
            sys.executable,
            "-c",
            READER,
            str(settings.published_dir / "CURRENT.json"),
            str(stop),
            str(out),
        ]
    )
    try:
        deadline = time.monotonic() + 60
        while not (tmp_path / "ready").exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        time.sleep(0.5)
        for score in (2.0, 3.0, 4.0, 5.0, 6.0):
            _candidate(settings, score, users=2000)
            publish(settings)
            time.sleep(0.3)
    finally:
        stop.touch()
        reader.wait(timeout=60)
    result = json.loads(out.read_text())
    assert result["errors"] == []
    assert result["reads"] > 10 and len(result["versions"]) >= 3
