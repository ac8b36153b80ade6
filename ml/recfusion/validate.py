"""The validation gate: Great Expectations suites over the warehouse, failing closed.

Suites are JSON files in ``expectations/suites/``, one per table, each with the SQL that
selects the rows to check. GX runs them with its SQL engine on DuckDB (through
duckdb-engine), so every metric is a query in the warehouse: nothing is pulled into
memory, and validation scales with DuckDB rather than with pandas.

GX's SQL engine returns query results after closing the connection it ran them on, and a
DuckDB cursor loses its rows when its connection closes; that is the
``MetricResolutionError: list index out of range`` seen with GX on DuckDB. GX already keeps
one persisted connection for dialects that need it (SQLite, SQL Server, ...);
``_persist_duckdb_connections`` adds DuckDB to that list. See docs/validation.md.

A failed expectation raises ``ValidationFailed`` naming the suite, the expectation, how
many values failed and a few of them; the pipeline stops before anything is published.
Data Docs are rebuilt on each run under ``RECFUSION_HOME/gx``.
"""

from __future__ import annotations

import enum
import json
import logging
import subprocess
import sys
import warnings
from pathlib import Path

from recfusion.settings import REPO_ROOT
from recfusion.warehouse import connect

log = logging.getLogger(__name__)

SUITES_DIR = REPO_ROOT / "expectations" / "suites"
RAW_SUITES = ("raw_events",)
MART_SUITES = (
    "stg_landing__events",
    "dim_items",
    "fct_user_item_splits",
    "user_long_term_interests",
    "user_short_term_interests",
)


class _DuckDBDialect(enum.StrEnum):
    DUCKDB = "duckdb"


def _persist_duckdb_connections() -> None:
    """Make GX keep its DuckDB connection open until results are fetched (see above)."""
    from great_expectations.execution_engine import sqlalchemy_execution_engine as engine

    if not any(d.value == "duckdb" for d in engine._PERSISTED_CONNECTION_DIALECTS):
        engine._PERSISTED_CONNECTION_DIALECTS = (
            *engine._PERSISTED_CONNECTION_DIALECTS,
            _DuckDBDialect.DUCKDB,
        )


class ValidationFailed(RuntimeError):
    """A suite failed: nothing downstream of it may run."""


def load_suite_spec(name: str, settings, suites_dir: Path = SUITES_DIR) -> dict:
    """Read a suite file and fill ``$setting`` placeholders from the settings."""
    path = suites_dir / f"{name}.json"
    spec = json.loads(path.read_text())
    params = {"top_k": settings.top_k, "short_term_n": settings.interests.short_term_n}

    def fill(value):
        if isinstance(value, str) and value.startswith("$"):
            if value[1:] not in params:
                raise ValueError(f"{path}: unknown placeholder {value}")
            return params[value[1:]]
        if isinstance(value, dict):
            return {k: fill(v) for k, v in value.items()}
        if isinstance(value, list):
            return [fill(v) for v in value]
        return value

    spec["expectations"] = fill(spec["expectations"])
    return spec


def _context(settings):
    import great_expectations as gx

    return gx.get_context(mode="file", project_root_dir=str(settings.home))


def _build_suite(spec: dict):
    import great_expectations as gx
    from great_expectations.expectations.expectation_configuration import (
        ExpectationConfiguration,
    )

    suite = gx.ExpectationSuite(name=spec["name"])
    for exp in spec["expectations"]:
        # to_domain_obj raises on a bad configuration, where the suite would only log it
        suite.add_expectation(ExpectationConfiguration(**exp).to_domain_obj())
    return suite


def _failures(result) -> list[str]:
    failures = []
    for run_result in result.run_results.values():
        for r in run_result.results:
            if r.success:
                continue
            cfg = r.expectation_config
            res = r.result or {}
            column = cfg.kwargs.get("column") or cfg.kwargs.get("column_list") or ""
            if r.exception_info and r.exception_info.get("raised_exception"):
                detail = f"raised {r.exception_info.get('exception_message')}"
            elif "unexpected_count" in res:
                detail = (
                    f"{res['unexpected_count']} of {res.get('element_count')} values,"
                    f" e.g. {res.get('partial_unexpected_list', [])[:5]}"
                )
            else:
                detail = f"observed {res.get('observed_value')}"
            failures.append(f"{cfg.type}({column}): {detail}")
    return failures


def run_suites(settings, names, suites_dir: Path = SUITES_DIR) -> list[dict]:
    """Validate the named suites in a child process; raise ``ValidationFailed`` on failure.

    A child process because GX keeps its DuckDB connections for the life of its objects,
    and an open connection locks the warehouse file against the writers that follow.
    """
    payload = json.dumps(
        {
            "settings": json.loads(settings.model_dump_json()),
            "names": list(names),
            "suites_dir": str(suites_dir),
        }
    )
    proc = subprocess.run(
        [sys.executable, "-m", "recfusion.validate"], input=payload, capture_output=True, text=True
    )
    lines = proc.stdout.strip().splitlines()
    outcome = json.loads(lines[-1]) if lines and lines[-1].startswith("{") else None
    if outcome is None:
        raise RuntimeError(
            f"validation process failed (exit {proc.returncode}):\n" + proc.stderr[-3000:]
        )
    if outcome.get("failed"):
        raise ValidationFailed(outcome["failed"])
    for summary in outcome["summaries"]:
        log.info("suite %(suite)s passed (%(expectations)d expectations)", summary)
    log.info("Data Docs: %s", data_docs_index(settings))
    return outcome["summaries"]


def _run_suites_here(settings, names, suites_dir: Path = SUITES_DIR) -> list[dict]:
    """Validate each named suite in the warehouse; raise at the first failing suite."""
    import great_expectations as gx
    from great_expectations.checkpoint import UpdateDataDocsAction

    _persist_duckdb_connections()
    context = _context(settings)
    source = context.data_sources.add_or_update_sql(
        "warehouse",
        connection_string=f"duckdb:///{settings.warehouse}",
        kwargs={"connect_args": {"read_only": True}},
    )
    summaries = []
    try:
        for name in names:
            spec = load_suite_spec(name, settings, suites_dir)
            asset = source.add_query_asset(name=name, query=spec["query"])
            batch_def = asset.add_batch_definition_whole_table("whole")
            suite = context.suites.add_or_update(_build_suite(spec))
            vdef = context.validation_definitions.add_or_update(
                gx.ValidationDefinition(name=name, data=batch_def, suite=suite)
            )
            checkpoint = context.checkpoints.add_or_update(
                gx.Checkpoint(
                    name=f"{name}_gate",
                    validation_definitions=[vdef],
                    actions=[UpdateDataDocsAction(name="data_docs")],
                    result_format={"result_format": "SUMMARY", "partial_unexpected_count": 5},
                )
            )
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                result = checkpoint.run()
            failures = _failures(result)
            rows = next(iter(result.run_results.values())).statistics
            if failures:
                raise ValidationFailed(
                    f"suite '{name}' failed {len(failures)} of {len(spec['expectations'])}"
                    f" expectations:\n  "
                    + "\n  ".join(failures)
                    + f"\nData Docs: {data_docs_index(settings)}"
                )
            summaries.append(
                {
                    "suite": name,
                    "expectations": len(spec["expectations"]),
                    "evaluated": rows.get("evaluated_expectations"),
                    "failed": 0,
                }
            )
    finally:
        source.get_execution_engine().close()
    return summaries


def data_docs_index(settings) -> Path:
    return settings.home / "gx" / "uncommitted" / "data_docs" / "local_site" / "index.html"


def check_quarantine_rate(settings) -> dict:
    """Block publishing when too many rows were set aside in landing and staging."""
    with connect(settings.warehouse, read_only=True) as con:
        raw, landing_q = con.execute(
            "select raw_events, quarantined_events from raw.loads order by loaded_at desc limit 1"
        ).fetchone()
        staging_q = con.execute(
            "select count(*) from staging.stg_landing__events_quarantine"
        ).fetchone()[0]
    rate = (landing_q + staging_q) / max(raw, 1)
    summary = {"raw_events": raw, "quarantined": landing_q + staging_q, "rate": round(rate, 5)}
    if rate > settings.max_quarantine_rate:
        raise ValidationFailed(
            f"quarantine rate {rate:.2%} ({landing_q + staging_q} of {raw}"
            f" event rows) is above max_quarantine_rate "
            f"{settings.max_quarantine_rate:.2%}"
        )
    log.info(
        "quarantine rate %.3f%% is within %.2f%%", rate * 100, settings.max_quarantine_rate * 100
    )
    return summary


def validate_marts(settings) -> dict:
    return {
        "quarantine": check_quarantine_rate(settings),
        "suites": run_suites(settings, MART_SUITES),
    }


def validate_recommendations(settings) -> dict:
    return {"suites": run_suites(settings, ["recommendations"])}


def _main() -> None:
    """Child-process entry: settings and suite names as JSON on stdin, outcome on stdout."""
    from recfusion.settings import Settings

    logging.basicConfig(level=logging.WARNING)
    request = json.loads(sys.stdin.read())
    settings = Settings(**request["settings"])
    try:
        summaries = _run_suites_here(settings, request["names"], Path(request["suites_dir"]))
        print(json.dumps({"summaries": summaries}))
    except ValidationFailed as err:
        print(json.dumps({"failed": str(err)}))


if __name__ == "__main__":
    _main()
