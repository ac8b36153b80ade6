"""
### recfusion: ingest

Lands the day's events and the item catalogue into the DuckDB warehouse. Rows that cannot
be parsed go to `raw.quarantine` with a reason and the file and line they came from.
A successful load updates the asset `recfusion://warehouse/raw/events`, which starts
`recfusion_train_publish`.

Params: `source` (synthetic, movielens, beauty, files), `path` (the data folder) and
`as_of` (an ISO date). The asset event carries the as-of date downstream: the `as_of`
param, or for a backfill run its logical date, or none (the data up to its latest event).
Backfill a range with
`airflow backfill create --dag-id recfusion_ingest --from-date ... --to-date ...`.
"""

from __future__ import annotations

from airflow.sdk import Asset, Param, dag, task

from recfusion.orchestration import (
    DAG_DEFAULTS,
    RAW_EVENTS_URI,
    WRITER_POOL,
    load_as_of,
    run_stage,
)

RAW_EVENTS = Asset(RAW_EVENTS_URI)


@dag(
    schedule="@daily",
    doc_md=__doc__,
    **DAG_DEFAULTS,
    params={
        "source": Param("synthetic", enum=["synthetic", "movielens", "beauty", "files"]),
        "path": Param(None, type=["null", "string"], description="data folder for the source"),
        "as_of": Param(
            None, type=["null", "string"], description="ISO date; default: the latest event"
        ),
    },
)
def recfusion_ingest():
    @task(outlets=[RAW_EVENTS], pool=WRITER_POOL)
    def ingest(params=None, ds=None, dag_run=None, outlet_events=None) -> dict:
        as_of = load_as_of(params, ds, dag_run.run_type if dag_run else None)
        summary = run_stage("ingest", params, as_of=as_of)
        # what recfusion_train_publish reads from its triggering event
        outlet_events[RAW_EVENTS].extra = {
            "as_of": as_of,
            "backfill": as_of is not None and not (params or {}).get("as_of"),
            "load_id": summary.get("load_id"),
        }
        return summary

    ingest()


recfusion_ingest()
