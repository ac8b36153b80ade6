"""
### recfusion: transform, validate, train, publish

Starts when `recfusion_ingest` lands new events (asset
`recfusion://warehouse/raw/events`). dbt runs every model and then its tests, one task
each, rendered from the prebuilt manifest `dbt_project/target/manifest.json`
(`make manifest`); Great Expectations validates the marts (asset
`recfusion://warehouse/marts`); the item texts are embedded and the fusion model is
trained, evaluated and registered in MLflow (on the `gpu` queue); every user is scored
with the champion; the recommendations are validated and published.

A failed dbt test or validation fails its task and nothing after it runs: the last
published recommendations stay. Tasks writing the warehouse take the `duckdb_writer`
pool (one slot); `embed_items` and `train_register` take the `gpu` pool, and the
embedding's writes wait for the warehouse's writer lock.
"""

from __future__ import annotations

import logging

from airflow.sdk import Asset, TaskGroup, dag, task

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
        return task(task_id="dbt_build", pool=WRITER_POOL)(run_stage)("transform")

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


@dag(
    schedule=[Asset(RAW_EVENTS_URI)],
    doc_md=__doc__,
    **DAG_DEFAULTS,
)
def recfusion_train_publish():
    @task(pool=WRITER_POOL, outlets=[Asset(MARTS_URI)])
    def validate_marts() -> dict:
        return run_stage("validate_marts")

    # the GPU pool; its warehouse writes wait for the writer lock (recfusion.warehouse)
    @task(queue=GPU_QUEUE, pool=GPU_POOL)
    def embed_items() -> dict:
        return run_stage("embed")

    @task(queue=GPU_QUEUE, pool=GPU_POOL)
    def train_register() -> dict:
        summary = run_stage("train")
        return {k: v for k, v in summary.items() if k != "metrics"}

    @task(pool=WRITER_POOL)
    def score() -> dict:
        return run_stage("score")

    @task(pool=WRITER_POOL)
    def validate_recommendations() -> dict:
        return run_stage("validate_recommendations")

    @task(pool=WRITER_POOL, outlets=[Asset(RECOMMENDATIONS_URI)])
    def publish() -> dict:
        return run_stage("publish")

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
