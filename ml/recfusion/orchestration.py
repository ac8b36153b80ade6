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

# the first day a backfill can reach (ISO date); the generated data set starts on 2025-01-01
START_DATE = datetime.fromisoformat(os.environ.get("RECFUSION_START_DATE", "2025-01-01"))

# what both DAGs share: a UTC start, no catch-up, one run at a time, retries with backoff
DAG_DEFAULTS = {
    "start_date": START_DATE.replace(tzinfo=START_DATE.tzinfo or UTC),
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


def load_as_of(params: dict | None, ds: str | None, run_type: str | None) -> str | None:
    """The as-of date an ingest run hands downstream with its asset event.

    The ``as_of`` param when given; for a backfill run, its logical date, so that each
    backfilled day describes the data up to that day; otherwise None: the marts then
    describe the data up to its latest event (a scheduled run on a historical data set
    would otherwise measure every event's age from today).
    """
    if params and params.get("as_of"):
        return str(params["as_of"])
    if getattr(run_type, "value", run_type) == "backfill":  # DagRunType.BACKFILL_JOB
        return ds
    return None


def run_as_of(params: dict | None = None, triggering_asset_events=None) -> dict:
    """What a train/publish run works to: ``{"as_of": ..., "backfill": bool}``.

    A manual trigger's ``as_of`` param wins; otherwise the newest triggering load's.
    """
    if params and params.get("as_of"):
        return {"as_of": str(params["as_of"]), "backfill": False}
    events = [e for group in (triggering_asset_events or {}).values() for e in group]
    if not events:
        return {"as_of": None, "backfill": False}
    newest = max(events, key=lambda e: e.timestamp)
    extra = dict(newest.extra or {})
    return {"as_of": extra.get("as_of"), "backfill": bool(extra.get("backfill"))}


def run_stage(name: str, params: dict | None = None, as_of: str | None = None) -> dict:
    """Run one stage of ``recfusion.pipeline`` and return its summary for XCom."""
    import json

    from recfusion import pipeline

    settings = settings_from(params, as_of)
    summary = {**getattr(pipeline, name)(settings), "as_of": settings.as_of}
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


def run_dbt_node(
    command: str, model: str, params: dict | None = None, triggering_asset_events=None
) -> dict:
    """``dbt run`` or ``dbt test`` for one model, holding the warehouse writer lock.

    Tests are selected "buildable": a test that also reads other models runs with the last
    of them to be built, never before one of its inputs exists. In a run started by a
    backfilled load, incremental models also rebuild that day.
    """
    from recfusion import transform

    target = run_as_of(params, triggering_asset_events)
    extra = ["--indirect-selection", "buildable"] if command == "test" else []
    dbt_vars = {}
    if target["backfill"] and target["as_of"]:
        dbt_vars = {"backfill_start": target["as_of"], "backfill_end": target["as_of"]}
    settings = settings_from(as_of=target["as_of"])
    summary = transform.run_dbt(settings, command, "--select", model, *extra, dbt_vars=dbt_vars)
    return {**summary, "as_of": target["as_of"]}
