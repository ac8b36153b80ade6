"""The validation gate: Great Expectations suites over the warehouse, failing closed.

Suites are JSON files in ``expectations/suites/``, one per table, each with the SQL that
reads the frame to check. The frame is read from DuckDB with DuckDB itself and validated
by GX's pandas engine: GX's SQL path through duckdb-engine fails on this stack (see
docs/validation.md), and reading the frame in DuckDB keeps joins and window checks in SQL.

A failed expectation raises ``ValidationFailed`` naming the suite, the expectation, how
many values failed and a few of them; the pipeline stops before anything is published.
Data Docs are rebuilt on each run under ``RECFUSION_HOME/gx``.
"""

from __future__ import annotations

import json
import logging
import warnings
from pathlib import Path

import pandas as pd

from recfusion.settings import REPO_ROOT
from recfusion.warehouse import connect

log = logging.getLogger(__name__)

SUITES_DIR = REPO_ROOT / "expectations" / "suites"
MART_SUITES = (
    "dim_items",
    "fct_user_item_splits",
    "user_long_term_interests",
    "user_short_term_interests",
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


def validate_frame(settings, spec: dict, frame: pd.DataFrame, context=None) -> dict:
    """Run one suite over ``frame``; update Data Docs; raise ``ValidationFailed`` on failure."""
    import great_expectations as gx
    from great_expectations.checkpoint import UpdateDataDocsAction

    context = context or _context(settings)
    name = spec["name"]
    source = context.data_sources.add_or_update_pandas("warehouse")
    asset = next((a for a in source.assets if a.name == name), None) or source.add_dataframe_asset(
        name=name
    )
    batch_def = next(
        (b for b in asset.batch_definitions if b.name == "whole"), None
    ) or asset.add_batch_definition_whole_dataframe("whole")
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
        result = checkpoint.run(batch_parameters={"dataframe": frame})
    failures = []
    for run_result in result.run_results.values():
        for r in run_result.results:
            if r.success:
                continue
            cfg = r.expectation_config
            res = r.result or {}
            column = cfg.kwargs.get("column") or cfg.kwargs.get("column_list") or ""
            detail = (
                f"{res.get('unexpected_count')} of {res.get('element_count')} values,"
                f" e.g. {res.get('partial_unexpected_list', [])[:5]}"
                if "unexpected_count" in res
                else f"observed {res.get('observed_value')}"
            )
            if r.exception_info and r.exception_info.get("raised_exception"):
                detail = f"raised {r.exception_info.get('exception_message')}"
            failures.append(f"{cfg.type}({column}): {detail}")
    summary = {
        "suite": name,
        "rows": len(frame),
        "expectations": len(spec["expectations"]),
        "failed": len(failures),
    }
    if failures:
        raise ValidationFailed(
            f"suite '{name}' failed {len(failures)} of "
            f"{len(spec['expectations'])} expectations on {len(frame)} rows:"
            "\n  " + "\n  ".join(failures)
        )
    log.info(
        "suite %s passed (%d expectations, %d rows)", name, summary["expectations"], len(frame)
    )
    return summary


def run_suites(settings, names, suites_dir: Path = SUITES_DIR) -> list[dict]:
    """Validate each named suite against the warehouse; stop at the first failure."""
    context = _context(settings)
    summaries = []
    for name in names:
        spec = load_suite_spec(name, settings, suites_dir)
        with connect(settings.warehouse, read_only=True) as con:
            frame = con.execute(spec["query"]).df()
        summaries.append(validate_frame(settings, spec, frame, context))
    log.info("Data Docs: %s", data_docs_index(settings))
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
