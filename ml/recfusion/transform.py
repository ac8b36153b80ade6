"""Running dbt: build the models and their tests, compile the manifest.

dbt runs in a child process against the project in ``dbt_project/``; its target and log
folders live under ``RECFUSION_HOME`` so that a run leaves nothing in the repository. The
warehouse path and the interest settings reach dbt as an environment variable and
``--vars``. ``settings.dbt_target`` picks the profile's target and
``settings.dbt_executable`` the dbt to run: the Spark targets need the dbt of the Spark venv
(``recfusion.spark``).
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from pathlib import Path

from recfusion import names
from recfusion.settings import REPO_ROOT
from recfusion.warehouse import writer_lock

log = logging.getLogger(__name__)

DBT_PROJECT = REPO_ROOT / "dbt_project"


class TransformError(RuntimeError):
    """dbt failed: names the models or tests that failed and why."""


def checked_vars(values: dict) -> dict:
    """The dbt vars, with the dates that macros write into SQL checked for their form."""
    for key in ("backfill_start", "backfill_end"):
        if values.get(key) is not None:
            names.day(values[key], f"dbt var {key}")
    if values.get("as_of") is not None:
        names.moment(values["as_of"], "dbt var as_of")
    return values


def dbt_args(settings, command: str, *extra: str, dbt_vars: dict | None = None) -> list[str]:
    target = settings.home / "dbt" / "target"
    return [
        *command.split(),  # e.g. "build", "docs generate"
        "--project-dir",
        str(DBT_PROJECT),
        "--profiles-dir",
        str(DBT_PROJECT),
        "--target-path",
        str(target),
        "--log-path",
        str(settings.home / "dbt" / "logs"),
        "--vars",
        json.dumps(checked_vars({**settings.dbt_vars(), **(dbt_vars or {})})),
        *extra,
    ]


def run_dbt(settings, command: str, *extra: str, dbt_vars: dict | None = None) -> dict:
    """Run ``dbt <command>`` in a child process; raise ``TransformError`` naming what failed.

    ``dbt_vars`` are added to (and override) the vars from the settings, e.g.
    ``{"backfill_start": "2025-03-01", "backfill_end": "2025-03-07"}`` or ``{"as_of": ...}``.
    A child process, not ``dbtRunner``: dbt-duckdb keeps its connection open for the life of
    the process, which would lock the warehouse against the stages that follow.
    """
    env = {
        **os.environ,
        "RECFUSION_WAREHOUSE": str(settings.warehouse),
        "RECFUSION_DBT_TARGET": settings.dbt_target,
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
    }
    dbt = settings.dbt_executable or Path(sys.executable).with_name("dbt")
    with writer_lock(settings.warehouse):
        if settings.dbt_target == "spark":  # a local Spark reads the raw tables from parquet
            from recfusion import spark

            env["RECFUSION_SPARK_DIR"] = str(settings.spark_dir)
            dbt_vars = {"spark_sources": spark.export_sources(settings), **(dbt_vars or {})}
        args = dbt_args(settings, command, *extra, dbt_vars=dbt_vars)
        log.info("dbt %s", " ".join(args))
        proc = subprocess.run([str(dbt), *args], env=env, capture_output=True, text=True)
    results_file = settings.home / "dbt" / "target" / "run_results.json"
    results = json.loads(results_file.read_text())["results"] if results_file.exists() else []
    statuses: dict[str, int] = {}
    for r in results:
        statuses[r["status"]] = statuses.get(r["status"], 0) + 1
    failed = [r for r in results if r["status"] in ("error", "fail")]
    if proc.returncode != 0 or failed:
        lines = [
            f"{r['unique_id']}: {r['status']}: {(r.get('message') or '')[:300]}"
            for r in failed[:10]
        ]
        tail = "\n".join(proc.stdout.splitlines()[-15:] + proc.stderr.splitlines()[-5:])
        raise TransformError(
            f"dbt {command} failed (exit {proc.returncode}):\n" + ("\n".join(lines) or tail)
        )
    log.info("dbt %s: %s", command, statuses)
    return {"command": command, "statuses": statuses, "nodes": len(results)}


def build(
    settings,
    full_refresh: bool = False,
    backfill: tuple[str, str] | None = None,
    as_of: str | None = None,
) -> dict:
    """``dbt build``: every model, then its tests, in dependency order.

    Incremental models rebuild only the days that changed; ``backfill`` (first and last
    date) rebuilds those days as well, ``full_refresh`` rebuilds everything. ``as_of``
    builds the marts as of that moment (a timestamp, or a date meaning its end).
    """
    dbt_vars: dict = {}
    if backfill is not None:
        dbt_vars["backfill_start"], dbt_vars["backfill_end"] = backfill
    if as_of is not None:
        dbt_vars["as_of"] = as_of
    extra = ["--full-refresh"] if full_refresh else []
    return run_dbt(settings, "build", *extra, dbt_vars=dbt_vars)


def manifest_path(settings):
    return settings.home / "dbt" / "target" / "manifest.json"
