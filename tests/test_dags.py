"""DAG files: they import without errors, fast, and touch no database while parsing."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from recfusion.orchestration import DBT_MANIFEST, dbt_models

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


@pytest.fixture(scope="module")
def bag(tmp_path_factory):
    if not DBT_MANIFEST.exists():
        pytest.skip(f"{DBT_MANIFEST} is missing: `make manifest` builds it")
    os.environ.setdefault("AIRFLOW_HOME", str(tmp_path_factory.mktemp("airflow")))
    os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(DAGS))


def test_dagbag_has_no_import_errors(bag):
    assert bag.import_errors == {}
    assert {"recfusion_ingest", "recfusion_train_publish"} <= set(bag.dag_ids)
    for dag in bag.dags.values():
        assert dag.catchup is False and dag.doc_md
        assert all(t.retries == 2 for t in dag.tasks)


def test_ingest_feeds_the_rest_through_an_asset(bag):
    ingest = bag.dags["recfusion_ingest"]
    rest = bag.dags["recfusion_train_publish"]
    outlets = {a.uri for a in ingest.get_task("ingest").outlets}
    assert outlets == {"recfusion://warehouse/raw/events"}
    assert "recfusion://warehouse/raw/events" in str(rest.timetable.asset_condition)
    assert set(ingest.params) == {"source", "path", "as_of"}
    assert set(rest.params) == {"as_of"}


def test_every_dbt_model_and_its_tests_are_tasks_in_dependency_order(bag):
    dag = bag.dags["recfusion_train_publish"]
    models = dbt_models()
    assert "fct_user_item_splits" in models
    for model, parents in models.items():
        run, test = dag.get_task(f"dbt.{model}.run"), dag.get_task(f"dbt.{model}.test")
        assert test.task_id in run.downstream_task_ids
        for parent in parents:
            assert run.task_id in dag.get_task(f"dbt.{parent}.test").downstream_task_ids
    tail = [
        "validate_marts",
        "embed_items",
        "train_register",
        "score",
        "validate_recommendations",
        "publish",
    ]
    order = [t.task_id for t in dag.topological_sort() if not t.task_id.startswith("dbt.")]
    assert order == tail
    gpu = {"embed_items", "train_register"}
    assert all(dag.get_task(t).pool == "duckdb_writer" for t in dag.task_ids if t not in gpu)
    assert all(dag.get_task(t).pool == "gpu" and dag.get_task(t).queue == "gpu" for t in gpu)


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
    assert result["seconds"] < 0.5, f"{dag_file.name} took {result['seconds']:.2f}s to parse"


def test_an_ingest_hands_its_as_of_date_downstream():
    from airflow.utils.types import DagRunType

    from recfusion.orchestration import load_as_of

    assert load_as_of({"as_of": "2025-03-01"}, "2026-01-02", DagRunType.SCHEDULED) == "2025-03-01"
    # a backfilled day describes the data up to that day
    assert load_as_of({}, "2025-04-01", DagRunType.BACKFILL_JOB) == "2025-04-01"
    # a scheduled or manual run describes the data up to its latest event
    assert load_as_of({"as_of": None}, "2026-01-02", DagRunType.SCHEDULED) is None
    assert load_as_of(None, "2026-01-02", DagRunType.MANUAL) is None


def test_a_train_publish_run_works_to_its_newest_triggering_load():
    from datetime import UTC, datetime
    from types import SimpleNamespace

    from recfusion.orchestration import run_as_of

    def event(day: int, extra: dict):
        return SimpleNamespace(timestamp=datetime(2026, 1, day, tzinfo=UTC), extra=extra)

    loads = {
        "raw_events": [
            event(2, {"as_of": "2025-04-02", "backfill": True}),
            event(1, {"as_of": "2025-04-01", "backfill": True}),
        ]
    }
    assert run_as_of({}, loads) == {"as_of": "2025-04-02", "backfill": True}
    # a manual trigger's param wins over the load's date
    assert run_as_of({"as_of": "2025-05-01"}, loads) == {"as_of": "2025-05-01", "backfill": False}
    assert run_as_of({}, {"raw_events": [event(3, {})]}) == {"as_of": None, "backfill": False}
    assert run_as_of(None, None) == {"as_of": None, "backfill": False}
