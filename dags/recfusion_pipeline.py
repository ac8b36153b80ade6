"""
### recfusion pipeline

Lands events and items, builds the interest marts with dbt, validates them with Great
Expectations, embeds item text, trains and registers the fusion model in MLflow, scores
every user with the champion, validates the recommendations and publishes them.

Each task calls one stage function in `recfusion.pipeline` and returns a small summary;
the DuckDB warehouse under `RECFUSION_HOME` is the contract between tasks. A failed
validation fails its task and nothing downstream runs: the last published
recommendations stay as they were.

Trigger with `{"source": "movielens", "path": "/data/ml-100k"}` to run on other data.
"""

from __future__ import annotations

import os
from datetime import timedelta

import pendulum
from airflow.sdk import Asset, Param, dag, task

# tasks that use a GPU when one is there; the embedded LocalExecutor ignores queues
GPU_QUEUE = os.environ.get("RECFUSION_GPU_QUEUE", "gpu")
RAW_EVENTS = Asset("recfusion://warehouse/raw/events")
MARTS = Asset("recfusion://warehouse/marts")
RECOMMENDATIONS = Asset("recfusion://published/recommendations")


def _settings(params: dict):
    from recfusion.settings import Settings

    overrides = {k: params[k] for k in ("source", "path") if params.get(k)}
    return Settings(**overrides)


def _stage(name: str, params: dict) -> dict:
    """Run one stage of recfusion.pipeline; heavy imports happen here, not at parse time."""
    from recfusion import pipeline

    return getattr(pipeline, name)(_settings(params))


@dag(
    schedule="@daily",
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    doc_md=__doc__,
    tags=["recfusion"],
    default_args={
        "retries": 2,
        "retry_delay": timedelta(seconds=30),
        "retry_exponential_backoff": True,
    },
    params={
        "source": Param("synthetic", enum=["synthetic", "movielens", "beauty", "files"]),
        "path": Param(None, type=["null", "string"], description="data folder for the source"),
    },
)
def recfusion_pipeline():
    @task(outlets=[RAW_EVENTS])
    def ingest(params=None) -> dict:
        return _stage("ingest", params)

    @task(outlets=[MARTS])
    def dbt_build(params=None) -> dict:
        return _stage("transform", params)

    @task
    def validate_marts(params=None) -> dict:
        return _stage("validate_marts", params)

    @task(queue=GPU_QUEUE)
    def embed_items(params=None) -> dict:
        return _stage("embed", params)

    @task(queue=GPU_QUEUE)
    def train_register(params=None) -> dict:
        summary = _stage("train", params)
        return {k: v for k, v in summary.items() if k != "metrics"} | {
            "test_ndcg_10": summary["metrics"]["test_ndcg_10"]
        }

    @task
    def score(params=None) -> dict:
        return _stage("score", params)

    @task
    def validate_recommendations(params=None) -> dict:
        return _stage("validate_recommendations", params)

    @task(outlets=[RECOMMENDATIONS])
    def publish(params=None) -> dict:
        return _stage("publish", params)

    (
        ingest()
        >> dbt_build()
        >> validate_marts()
        >> embed_items()
        >> train_register()
        >> score()
        >> validate_recommendations()
        >> publish()
    )


recfusion_pipeline()
