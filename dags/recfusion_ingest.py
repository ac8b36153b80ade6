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

from airflow.sdk import Asset, Param, dag, task

from recfusion.orchestration import DAG_DEFAULTS, RAW_EVENTS_URI, WRITER_POOL, run_stage


@dag(
    schedule="@daily",
    doc_md=__doc__,
    **DAG_DEFAULTS,
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
