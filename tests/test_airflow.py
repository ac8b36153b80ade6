"""Both DAGs through Airflow itself: `airflow dags test` on SQLite, pools in place."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from recfusion.orchestration import DBT_MANIFEST, POOLS, dbt_models

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


def airflow(env, *args, timeout=900):
    exe = Path(sys.executable).with_name("airflow")
    proc = subprocess.run(
        [str(exe), *args], env=env, capture_output=True, text=True, timeout=timeout
    )
    log = proc.stdout + proc.stderr
    assert proc.returncode == 0, f"airflow {' '.join(args)} failed:\n{log[-5000:]}"
    return log


@pytest.mark.slow
def test_both_dags_run_to_success_with_airflow_dags_test(tmp_path):
    if not DBT_MANIFEST.exists():
        pytest.skip(f"{DBT_MANIFEST} is missing: `make manifest` builds it")
    env = {
        **os.environ,
        **SMALL,
        "AIRFLOW_HOME": str(tmp_path / "airflow"),
        "RECFUSION_HOME": str(tmp_path / "home"),
        "AIRFLOW__CORE__DAGS_FOLDER": str(REPO / "dags"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__PARALLELISM": "2",
    }
    airflow(env, "db", "migrate", timeout=300)
    for pool, (slots, description) in POOLS.items():
        airflow(env, "pools", "set", pool, str(slots), description, timeout=120)

    log = airflow(env, "dags", "test", "recfusion_ingest", "2026-01-02")
    assert re.search(r"DagRun Finished: dag_id=recfusion_ingest.*state=success", log)

    log = airflow(env, "dags", "test", "recfusion_train_publish", "2026-01-02")
    assert re.search(r"DagRun Finished: dag_id=recfusion_train_publish.*state=success", log)
    expected = [f"dbt.{m}.{step}" for m in dbt_models() for step in ("run", "test")]
    expected += [
        "validate_marts",
        "embed_items",
        "train_register",
        "score",
        "validate_recommendations",
        "publish",
    ]
    for task_id in expected:
        assert f"task_id='{task_id}'" in log, f"{task_id} did not run"
    assert "new_state=failed" not in log
    pointer = json.loads((tmp_path / "home" / "published" / "CURRENT.json").read_text())
    assert pointer["version"] == 1 and pointer["users"] == 50 and pointer["rows"] == 250
