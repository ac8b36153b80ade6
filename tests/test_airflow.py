"""The whole DAG through Airflow itself: `airflow dags test` on SQLite."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SMALL = {
    "RECFUSION_SYNTHETIC__N_USERS": "50",
    "RECFUSION_SYNTHETIC__N_CATEGORIES": "5",
    "RECFUSION_SYNTHETIC__ITEMS_PER_CATEGORY": "10",
    "RECFUSION_SYNTHETIC__EVENTS_PER_USER": "15",
    "RECFUSION_TRAIN__EPOCHS": "1",
    "RECFUSION_TRAIN__HIDDEN": "16",
    "RECFUSION_TRAIN__VARIANTS": '["learned"]',
    "RECFUSION_TOP_K": "5",
}


@pytest.mark.slow
def test_whole_dag_runs_to_success_with_airflow_dags_test(tmp_path):
    airflow = Path(sys.executable).with_name("airflow")
    env = {
        **os.environ,
        **SMALL,
        "AIRFLOW_HOME": str(tmp_path / "airflow"),
        "RECFUSION_HOME": str(tmp_path / "home"),
        "AIRFLOW__CORE__DAGS_FOLDER": str(REPO / "dags"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__PARALLELISM": "2",
    }
    migrate = subprocess.run(
        [str(airflow), "db", "migrate"], env=env, capture_output=True, text=True, timeout=300
    )
    assert migrate.returncode == 0, migrate.stderr[-3000:]
    run = subprocess.run(
        [str(airflow), "dags", "test", "recfusion_pipeline", "2026-01-02"],
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    log = run.stdout + run.stderr
    assert run.returncode == 0, log[-5000:]
    assert "state=success" in log and "DagRun Finished" in log
    for task in (
        "ingest",
        "dbt_build",
        "validate_marts",
        "embed_items",
        "train_register",
        "score",
        "validate_recommendations",
        "publish",
    ):
        assert f"task_id='{task}'" in log
    pointer = json.loads((tmp_path / "home" / "published" / "CURRENT.json").read_text())
    assert pointer["version"] == 1 and pointer["users"] == 50 and pointer["rows"] == 250
