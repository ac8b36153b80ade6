"""What the DAG files share: asset and pool names, paths, and the task body.

Imported while DAG files parse, so it imports nothing heavy at module level.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
DBT_PROJECT = REPO_ROOT / "dbt_project"
# built by `make manifest` (dbt parse); the dbt task group is rendered from it
DBT_MANIFEST = Path(
    os.environ.get("RECFUSION_DBT_MANIFEST", DBT_PROJECT / "target" / "manifest.json")
)

RAW_EVENTS_URI = "recfusion://warehouse/raw/events"
MARTS_URI = "recfusion://warehouse/marts"
RECOMMENDATIONS_URI = "recfusion://published/recommendations"

# one task at a time writes the DuckDB warehouse; `make airflow-init` creates both pools
WRITER_POOL = os.environ.get("RECFUSION_WRITER_POOL", "duckdb_writer")
GPU_POOL = os.environ.get("RECFUSION_GPU_POOL", "gpu")
GPU_QUEUE = os.environ.get("RECFUSION_GPU_QUEUE", "gpu")

# what both DAGs share: a UTC start, no catch-up, one run at a time, retries with backoff
DAG_DEFAULTS = {
    "start_date": datetime(2026, 1, 1, tzinfo=UTC),
    "catchup": False,
    "max_active_runs": 1,
    "tags": ["recfusion"],
    "default_args": {
        "retries": 2,
        "retry_delay": timedelta(seconds=30),
        "retry_exponential_backoff": True,
    },
}

POOLS = {
    WRITER_POOL: (1, "one writer at a time to the DuckDB warehouse"),
    GPU_POOL: (1, "tasks that use the GPU"),
}


def settings_from(params: dict | None = None, as_of: str | None = None):
    from recfusion.settings import Settings

    params = params or {}
    overrides = {k: params[k] for k in ("source", "path") if params.get(k)}
    if params.get("as_of") or as_of:
        overrides["as_of"] = params.get("as_of") or as_of
    return Settings(**overrides)


def run_stage(name: str, params: dict | None = None, as_of: str | None = None) -> dict:
    """Run one stage of ``recfusion.pipeline`` and return its summary for XCom."""
    import json

    from recfusion import pipeline

    summary = getattr(pipeline, name)(settings_from(params, as_of))
    return json.loads(json.dumps(summary, default=str))  # XCom-safe: plain JSON


def dbt_models(manifest_path: Path = DBT_MANIFEST) -> dict[str, list[str]]:
    """The project's models and the models each depends on, from the prebuilt manifest."""
    import json

    nodes = json.loads(manifest_path.read_text())["nodes"]
    models = {
        uid: n
        for uid, n in nodes.items()
        if n["resource_type"] == "model" and n["package_name"] == "recfusion"
    }
    return {
        n["name"]: sorted(models[d]["name"] for d in n["depends_on"]["nodes"] if d in models)
        for n in models.values()
    }


def run_dbt_node(command: str, model: str) -> dict:
    """``dbt run`` or ``dbt test`` for one model, holding the warehouse writer lock.

    Tests are selected "buildable": a test that also reads other models runs with the last
    of them to be built, never before one of its inputs exists.
    """
    from recfusion import transform

    extra = ["--indirect-selection", "buildable"] if command == "test" else []
    return transform.run_dbt(settings_from(), command, "--select", model, *extra)
