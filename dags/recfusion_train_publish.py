"""
### recfusion: transform, validate, train, publish

Starts when `recfusion_ingest` lands new events (asset
`recfusion://warehouse/raw/events`). dbt runs every model and then its tests, one task
each, rendered from the prebuilt manifest `dbt_project/target/manifest.json`
(`make manifest`); Great Expectations validates the marts (asset
`recfusion://warehouse/marts`); the item texts are embedded and the fusion model is
trained, evaluated and registered in MLflow (on the `gpu` queue); every user is scored
with the champion; the recommendations are validated and published.

The run works to the as-of date its triggering load carries (none: the data up to its
latest event); a manual trigger may set it with the `as_of` param. A run started by a
backfilled load also rebuilds that day in the incremental dbt models.

A failed dbt test or validation fails its task and nothing after it runs: the last
published recommendations stay. Tasks writing the warehouse take the `duckdb_writer`
pool (one slot); `embed_items` and `train_register` take the `gpu` pool, and the
embedding's writes wait for the warehouse's writer lock.
"""

from __future__ import annotations

import logging

from airflow.sdk import Asset, Param, TaskGroup, dag, task

from recfusion.orchestration import (
    DAG_DEFAULTS,
    DBT_MANIFEST,
    GPU_POOL,
    GPU_QUEUE,
    MARTS_URI,
    RAW_EVENTS_URI,
    RECOMMENDATIONS_URI,
    WRITER_POOL,
    dbt_models,
    run_as_of,
    run_dbt_node,
    run_stage,
)

log = logging.getLogger(__name__)


def dbt_group():
    """A task group per dbt model, `run` then `test`, wired as the models depend.

    Rendered from the prebuilt manifest (`make manifest`) with no dbt import, so the file
    parses fast; without a manifest dbt runs as one `dbt build` task.
    """
    if not DBT_MANIFEST.exists():
        log.warning("%s is missing (run `make manifest`): dbt runs as one task", DBT_MANIFEST)
        return task(task_id="dbt_build", pool=WRITER_POOL)(stage)("transform")

    with TaskGroup("dbt") as group:
        groups = {}
        for model in (models := dbt_models()):
            with TaskGroup(model) as one:
                run = task(task_id="run", pool=WRITER_POOL)(run_dbt_node)("run", model)
                test = task(task_id="test", pool=WRITER_POOL)(run_dbt_node)("test", model)
                run >> test
            groups[model] = one
        for model, upstream in models.items():
            for parent in upstream:
                groups[parent] >> groups[model]
    return group


def stage(name: str, params=None, triggering_asset_events=None) -> dict:
    """Run a pipeline stage as of this run's date (see ``run_as_of``)."""
    return run_stage(name, as_of=run_as_of(params, triggering_asset_events)["as_of"])


@dag(
    schedule=[Asset(RAW_EVENTS_URI)],
    doc_md=__doc__,
    **DAG_DEFAULTS,
    params={
        "as_of": Param(None, type=["null", "string"], description="ISO date; default: the load's"),
    },
)
def recfusion_train_publish():
    @task(pool=WRITER_POOL, outlets=[Asset(MARTS_URI)])
    def validate_marts(params=None, triggering_asset_events=None) -> dict:
        return stage("validate_marts", params, triggering_asset_events)

    # the GPU pool; its warehouse writes wait for the writer lock (recfusion.warehouse)
    @task(queue=GPU_QUEUE, pool=GPU_POOL)
    def embed_items(params=None, triggering_asset_events=None) -> dict:
        return stage("embed", params, triggering_asset_events)

    @task(queue=GPU_QUEUE, pool=GPU_POOL)
    def train_register(params=None, triggering_asset_events=None) -> dict:
        summary = stage("train", params, triggering_asset_events)
        return {k: v for k, v in summary.items() if k != "metrics"}

    @task(pool=WRITER_POOL)
    def score(params=None, triggering_asset_events=None) -> dict:
        return stage("score", params, triggering_asset_events)

    @task(pool=WRITER_POOL)
    def validate_recommendations(params=None, triggering_asset_events=None) -> dict:
        return stage("validate_recommendations", params, triggering_asset_events)

    @task(pool=WRITER_POOL, outlets=[Asset(RECOMMENDATIONS_URI)])
    def publish(params=None, triggering_asset_events=None) -> dict:
        return stage("publish", params, triggering_asset_events)

    (
        dbt_group()
        >> validate_marts()
        >> embed_items()
        >> train_register()
        >> score()
        >> validate_recommendations()
        >> publish()
    )


recfusion_train_publish()
