"""Faults: the pipeline killed with SIGKILL inside each stage, then rerun, as an operator
clearing the failed task would. The published result must equal an uninterrupted run's,
with no duplicate rows and no orphaned partial files.

Each kill lands inside its stage: the test waits for the stage's start in the log, then
for half the time that stage took in the uninterrupted run, and checks that the stage had
not finished. The whole process group goes, dbt's and validation's child processes too.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import duckdb
import pytest

from tests.conftest import small_settings

pytestmark = pytest.mark.slow

KILLED_IN = ["transform", "validate_marts", "embed", "train", "publish"]
COUNTED = [  # tables whose rows a rerun must neither lose nor repeat
    "raw.events",
    "raw.quarantine",
    "staging.stg_landing__events",
    "marts.fct_user_item_splits",
    "marts.user_long_term_interests",
    "marts.user_short_term_interests",
    "ml.item_vectors",
    "main.recommendations",
]


def pipeline_env(home: Path) -> dict:
    """The small test settings as RECFUSION_* variables, for a pipeline in a child process."""
    settings = small_settings(home)
    env = {k: v for k, v in os.environ.items() if not k.startswith("RECFUSION_")}
    env["RECFUSION_HOME"] = str(home)
    for part in ("synthetic", "train"):
        env[f"RECFUSION_{part.upper()}"] = getattr(settings, part).model_dump_json()
    env["RECFUSION_TOP_K"] = str(settings.top_k)
    return env


class Run:
    """``recfusion run`` in its own process group; optionally killed inside one stage."""

    def __init__(self, env: dict, start_at: str | None = None):
        cmd = [sys.executable, "-m", "recfusion.cli", "run"]
        cmd += ["--start-at", start_at] if start_at else []
        self.proc = subprocess.Popen(
            cmd,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        self.lines: list[str] = []
        self.started: dict[str, float] = {}
        self.done: dict[str, float] = {}
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        for line in self.proc.stdout:
            self.lines.append(line)
            if m := re.search(r"stage (\w+): start", line):
                self.started[m[1]] = time.monotonic()
            if m := re.search(r"stage (\w+): done in ([\d.]+)s", line):
                self.done[m[1]] = float(m[2])

    def log(self) -> str:
        return "".join(self.lines[-60:])

    def wait(self, timeout: float = 1200) -> int:
        code = self.proc.wait(timeout)
        self._reader.join(10)
        return code

    def kill_inside(self, stage: str, after_s: float, timeout: float = 1200) -> bool:
        """SIGKILL the process group ``after_s`` into ``stage``; True if the stage was cut."""
        deadline = time.monotonic() + timeout
        while stage not in self.started:
            assert self.proc.poll() is None, f"the run ended before {stage}:\n{self.log()}"
            assert time.monotonic() < deadline, f"{stage} never started:\n{self.log()}"
            time.sleep(0.02)
        while time.monotonic() < self.started[stage] + after_s and stage not in self.done:
            time.sleep(0.01)
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.wait()
        return stage not in self.done


def published(home: Path) -> dict:
    """What the published result and the warehouse look like, for comparing two homes."""
    pointer = json.loads((home / "published" / "CURRENT.json").read_text())
    with duckdb.connect(str(home / "warehouse.duckdb"), read_only=True) as con:
        counts = {t: con.execute(f"select count(*) from {t}").fetchone()[0] for t in COUNTED}
        duplicates = con.execute(
            "select count(*) from (select user_id, rank from main.recommendations "
            "group by all having count(*) > 1)"
        ).fetchone()[0]
        runs = con.execute(
            "select version, action from main.recommendation_runs order by recorded_at"
        ).fetchall()
    return {
        "checksum": pointer["checksum"],
        "counts": counts,
        "duplicates": duplicates,
        "runs": runs,
    }


def leftovers(home: Path, runs: list[tuple[int, str]]) -> list[str]:
    """Temporary files anywhere in the home, and snapshot folders no publication names."""
    stray = [str(p) for p in home.rglob("*.tmp")]
    named = {version for version, _ in runs}
    for folder in (home / "published" / "recommendations").glob("version=*"):
        files = sorted(p.name for p in folder.iterdir())
        if int(folder.name.split("=")[1]) not in named or files != [
            "recommendations.parquet",
            "snapshot.json",
        ]:
            stray.append(f"{folder}: {files}")
    return stray


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """An uninterrupted run: its published result and how long each stage took."""
    home = tmp_path_factory.mktemp("uninterrupted") / "home"
    run = Run(pipeline_env(home))
    assert run.wait() == 0, run.log()
    assert set(KILLED_IN) <= set(run.done), run.log()
    return {"home": home, "seconds": run.done, "result": published(home)}


def test_sigkill_inside_each_stage_then_rerun_publishes_the_same_result(tmp_path, reference):
    home = tmp_path / "home"
    env = pipeline_env(home)
    start_at = None
    for stage in KILLED_IN:
        # half-way into the stage, as long as it took uninterrupted; sooner if that missed
        for fraction in (0.5, 0.2, 0.05):
            run = Run(env, start_at)
            if run.kill_inside(stage, fraction * reference["seconds"][stage]):
                break
            start_at = stage  # it got past the stage: rerun from there and cut sooner
        else:
            pytest.fail(f"could not kill the pipeline inside {stage}:\n{run.log()}")
        start_at = stage  # the operator clears the failed task: the rerun starts there
    rerun = Run(env, start_at)
    assert rerun.wait() == 0, rerun.log()

    result = published(home)
    expected = reference["result"]
    assert result["checksum"] == expected["checksum"]
    assert result["counts"] == expected["counts"]
    assert result["duplicates"] == 0
    assert result["runs"] == [(1, "publish")]
    assert leftovers(home, result["runs"]) == []

    # and a whole rerun on top changes nothing: the same content publishes no new version
    again = Run(env)
    assert again.wait() == 0, again.log()
    assert published(home) == result
