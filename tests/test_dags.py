"""DAG files: they import without errors, fast, and touch no database while parsing."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

DAGS = Path(__file__).resolve().parents[1] / "dags"
HEAVY = ["torch", "transformers", "mlflow", "great_expectations", "duckdb", "dbt"]

# airflow.sdk is imported before timing: the DAG processor has it loaded already
PARSE = """
import json, sys, time, runpy
import airflow.sdk, pendulum
start = time.perf_counter()
runpy.run_path(sys.argv[1])
took = time.perf_counter() - start
heavy = [m for m in {heavy!r} if m in sys.modules]
print(json.dumps({{"seconds": took, "heavy": heavy}}))
"""


def test_dagbag_has_no_import_errors(tmp_path, monkeypatch):
    monkeypatch.setenv("AIRFLOW_HOME", str(tmp_path))
    from airflow.dag_processing.dagbag import DagBag

    monkeypatch.setenv("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
    bag = DagBag(dag_folder=str(DAGS))
    assert bag.import_errors == {}
    assert "recfusion_pipeline" in bag.dag_ids
    dag = bag.dags["recfusion_pipeline"]
    assert [t.task_id for t in dag.topological_sort()] == [
        "ingest",
        "dbt_build",
        "validate_marts",
        "embed_items",
        "train_register",
        "score",
        "validate_recommendations",
        "publish",
    ]
    assert dag.catchup is False and dag.doc_md


@pytest.mark.parametrize("dag_file", sorted(DAGS.glob("*.py")), ids=lambda p: p.name)
def test_dag_file_parses_fast_without_a_database(tmp_path, dag_file):
    # a metadata database that cannot exist: any access while parsing would fail
    env = {
        **os.environ,
        "AIRFLOW_HOME": str(tmp_path),
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": "sqlite:////nonexistent/dir/airflow.db",
    }
    proc = subprocess.run(
        [sys.executable, "-c", PARSE.format(heavy=HEAVY), str(dag_file)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["heavy"] == [], f"heavy modules imported at parse time: {result['heavy']}"
    assert result["seconds"] < 1.0, f"{dag_file.name} took {result['seconds']:.2f}s to parse"
