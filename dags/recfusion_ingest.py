"""
### recfusion: ingest

Lands the day's events and the item catalogue into the DuckDB warehouse. Rows that cannot
be parsed go to `raw.quarantine` with a reason and the file and line they came from.
A successful load updates the asset `recfusion://warehouse/raw/events`, which starts
`recfusion_train_publish`.

Params: `source` (synthetic, movielens, beauty, files), `path` (the data folder) and
`as_of` (an ISO date; default the run's logical date). Backfill a range with
`airflow backfill create --dag-id recfusion_ingest --from-date ... --to-date ...`.
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import Asset, Param, dag, task

from recfusion.orchestration import RAW_EVENTS_URI, WRITER_POOL, run_stage


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
        "as_of": Param(None, type=["null", "string"], description="ISO date; default: the run's"),
    },
)
def recfusion_ingest():
    @task(outlets=[Asset(RAW_EVENTS_URI)], pool=WRITER_POOL)
    def ingest(params=None, ds=None) -> dict:
        return run_stage("ingest", params, as_of=ds)

    ingest()


recfusion_ingest()
