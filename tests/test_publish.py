"""Publishing: versioned snapshots, the pointer swap, rollback, and readers during publishes."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time

import duckdb
import pandas as pd
import pytest

from recfusion.publish import WATCH, current, publish, read_published, rollback, versions
from recfusion.settings import Settings


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
            WATCH,
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
    assert len(result["latencies"]) > 10 and len(result["versions"]) >= 3


def test_a_publish_killed_between_its_steps_is_finished_or_cleared_by_the_next(settings):
    """The states a killed publish can leave, made by hand, and what the next one does."""
    _candidate(settings, 1.0)
    publish(settings)
    snapshots = settings.published_dir / "recommendations"

    # killed while writing version 2's file, and after renaming it but before any record:
    # a temporary file and a complete snapshot that nothing names
    (snapshots / "version=2").mkdir()
    (snapshots / "version=2" / ".recommendations.parquet.tmp").write_bytes(b"PAR1 half")
    orphan = snapshots / "version=3"
    orphan.mkdir()
    shutil.copyfile(
        snapshots / "version=1" / "recommendations.parquet", orphan / "recommendations.parquet"
    )
    (settings.published_dir / ".CURRENT.json.tmp").write_text("{")
    _candidate(settings, 2.0)
    assert publish(settings)["version"] == 2  # the orphans took no version number
    assert versions(settings) == [1, 2]
    assert not list(settings.published_dir.rglob("*.tmp"))

    # killed after the warehouse recorded version 3 but before the pointer file moved
    _candidate(settings, 3.0)
    publish(settings)
    (settings.published_dir / "CURRENT.json").write_text(
        (snapshots / "version=2" / "snapshot.json").read_text()
    )
    assert current(settings)["version"] == 2
    again = publish(settings)  # the same candidate: finishes the swap, publishes nothing new
    assert again["version"] == 3 and not again["published"]
    assert current(settings)["version"] == 3 and read_published(settings)["score"].eq(3.0).all()
    with duckdb.connect(str(settings.warehouse), read_only=True) as con:
        runs = con.execute("select version from main.recommendation_runs").fetchall()
    assert sorted(runs) == [(1,), (2,), (3,)]  # one record per version, none twice
