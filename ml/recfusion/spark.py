"""The dbt models on Apache Spark, and their marts checked against DuckDB's.

recfusion lands its raw tables in DuckDB. To build the models on a local Spark (dbt-spark's
``session`` method, target ``spark``), ``export_sources`` writes the source tables that
exist as parquet files under ``<home>/spark/sources/<schema>/<name>/``; the dbt var
``spark_sources`` names them, and the project's on-run-start hook registers them as Spark
tables before the models run (``dbt_project/macros/spark.sql``). dbt-spark needs pandas < 3,
so it lives in a venv of its own (``make spark-venv``): ``settings.dbt_executable`` points
``recfusion.transform`` at its dbt.

``compare_marts`` checks two builds row for row: the marts of the DuckDB warehouse against
the parquet files the on-run-end hook wrote from Spark (var ``export_dir``).
"""

from __future__ import annotations

import logging
import math
import shutil
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pandas as pd
import yaml

from recfusion.settings import REPO_ROOT
from recfusion.warehouse import connect, table_exists

log = logging.getLogger(__name__)

SPARK_VENV = REPO_ROOT / ".venv-spark"
SOURCES_YAML = REPO_ROOT / "dbt_project" / "models" / "staging" / "_landing__sources.yml"
# columns that record when a row was written: they differ between any two builds
BOOKKEEPING = {"staged_at", "built_at"}


def spark_dbt() -> Path:
    """The dbt of the Spark venv (it may not exist)."""
    return SPARK_VENV / "bin" / "dbt"


def missing_requirements() -> str | None:
    """Why a local Spark build cannot run here, or None when it can."""
    if not spark_dbt().exists():
        return f"{spark_dbt()} is absent: `make spark-venv` builds the Spark venv"
    if shutil.which("java") is None:
        return "no java on PATH: Spark needs a Java runtime (17 or 21)"
    return None


def source_tables() -> list[str]:
    """Every dbt source table, as schema.name."""
    spec = yaml.safe_load(SOURCES_YAML.read_text())
    return [
        f"{source['schema']}.{table['name']}"
        for source in spec["sources"]
        for table in source["tables"]
    ]


def export_sources(settings) -> dict:
    """Write the source tables the DuckDB warehouse holds as parquet; return the dbt var.

    A source table that does not exist yet (``main.recommendation_runs`` before the first
    publication) is left out, so that Spark does not have it either.
    """
    root = settings.spark_dir / "sources"
    shutil.rmtree(root, ignore_errors=True)
    exported = []
    with connect(settings.warehouse, read_only=True) as con:
        for table in source_tables():
            schema, name = table.split(".")
            if not table_exists(con, schema, name):
                continue
            folder = root / schema / name
            folder.mkdir(parents=True)
            con.execute(
                f"copy (select * from {schema}.{name}) to '{folder / 'part-0.parquet'}'"
                " (format parquet)"
            )
            exported.append(table)
    log.info("exported %s to %s", ", ".join(exported), root)
    return {"path": str(root), "tables": exported}


@dataclass
class TableComparison:
    name: str
    rows_duckdb: int
    rows_spark: int
    equal: bool
    max_abs_diff: float  # over the floating-point columns; 0.0 when there are none
    note: str = ""


def _canonical(frame: pd.DataFrame, floats: set[str]) -> pd.DataFrame:
    """Columns in name order, bookkeeping left out, timestamps naive UTC, lists as tuples,
    integers as Int64, ``floats`` as float64, and rows sorted by every other column (then by
    the ``floats`` rounded), so that equal tables line up row by row."""
    frame = frame[[c for c in sorted(frame.columns) if c not in BOOKKEEPING]].copy()
    for column in frame.columns:
        values = frame[column]
        if column in floats:
            frame[column] = values.astype("float64")
        elif isinstance(values.dtype, pd.DatetimeTZDtype):
            frame[column] = values.dt.tz_convert("UTC").dt.tz_localize(None)
        elif pd.api.types.is_integer_dtype(values.dtype) or pd.api.types.is_bool_dtype(
            values.dtype
        ):
            frame[column] = values.astype("Int64")
        elif values.dtype == object and values.map(lambda v: hasattr(v, "__len__")).any():
            frame[column] = values.map(
                lambda v: tuple(v) if v is not None and not isinstance(v, str) else v
            )
    keys = [c for c in frame.columns if c not in floats]
    order = frame[keys].astype("string").fillna("\x00")
    for column in frame.columns:
        if column in floats:
            order[column] = frame[column].round(6)
    index = order.sort_values(list(order.columns)).index if len(order.columns) else frame.index
    return frame.loc[index].reset_index(drop=True)


def compare_frames(
    name: str, duck: pd.DataFrame, spark: pd.DataFrame, rtol: float = 1e-9
) -> TableComparison:
    """Row-for-row equality: exact for every column but floating point, which must agree
    within ``rtol`` (relative; absolute ``rtol`` near zero) and be null in the same rows."""
    result = TableComparison(name, len(duck), len(spark), False, 0.0)
    # floating point on either side (DuckDB's 128-bit sums arrive as floats too)
    floats = {
        c
        for frame in (duck, spark)
        for c in frame.columns
        if pd.api.types.is_float_dtype(frame[c].dtype)
    }
    a, b = _canonical(duck, floats), _canonical(spark, floats)
    if list(a.columns) != list(b.columns):
        only = sorted(set(a.columns) ^ set(b.columns))
        result.note = f"columns differ: {', '.join(only)}"
        return result
    if len(a) != len(b):
        result.note = "row counts differ"
        return result
    problems = []
    for column in a.columns:
        x, y = a[column], b[column]
        if column in floats:
            if not x.isna().equals(y.isna()):
                problems.append(f"{column}: nulls differ")
                continue
            both = x.notna()
            diff = (x[both] - y[both]).abs()
            if len(diff):
                result.max_abs_diff = max(result.max_abs_diff, float(diff.max()))
            scale = pd.concat([x[both].abs(), y[both].abs()], axis=1).max(axis=1).clip(lower=1.0)
            if (diff > rtol * scale).any():
                problems.append(f"{column}: {int((diff > rtol * scale).sum())} values differ")
        else:
            same = (x.isna() & y.isna()) | (x.astype(object) == y.astype(object))
            if not same.all():
                problems.append(f"{column}: {int((~same).sum())} values differ")
    result.equal = not problems
    result.note = "; ".join(problems)
    return result


def duckdb_marts(warehouse: Path, names: list[str]) -> dict[str, pd.DataFrame]:
    with duckdb.connect(str(warehouse), read_only=True) as con:
        return {name: con.execute(f"select * from marts.{name}").df() for name in names}


def exported_marts(export_dir: Path, names: list[str]) -> dict[str, pd.DataFrame]:
    """The marts the Spark build wrote as parquet (an empty mart has no data files)."""
    frames = {}
    with duckdb.connect() as con:
        con.execute("set TimeZone = 'UTC'")
        for name in names:
            files = sorted(str(f) for f in (export_dir / name).glob("*.parquet"))
            if files:
                frames[name] = con.execute("select * from read_parquet(?)", [files]).df()
    return frames


def mart_names(warehouse: Path) -> list[str]:
    """The relations (tables and views) of the DuckDB warehouse's marts schema."""
    with duckdb.connect(str(warehouse), read_only=True) as con:
        rows = con.execute(
            "select table_name from information_schema.tables"
            " where table_schema = 'marts' order by table_name"
        ).fetchall()
    return [r[0] for r in rows]


def compare_marts(warehouse: Path, export_dir: Path, rtol: float = 1e-9) -> list[TableComparison]:
    """Every mart of the DuckDB warehouse against Spark's export of it."""
    names = mart_names(warehouse)
    duck = duckdb_marts(warehouse, names)
    spark = exported_marts(export_dir, names)
    results = []
    for name in names:
        if name not in spark:
            if duck[name].empty:  # Spark wrote an empty mart as no files at all
                results.append(TableComparison(name, 0, 0, True, 0.0, "empty on both"))
            else:
                results.append(
                    TableComparison(name, len(duck[name]), 0, False, math.nan, "not exported")
                )
            continue
        results.append(compare_frames(name, duck[name], spark[name], rtol=rtol))
    return results


def _run_times(settings) -> dict[str, float]:
    """Seconds dbt spent per kind of node (model, test, unit_test, operation) in its last run."""
    import json

    results = json.loads((settings.home / "dbt" / "target" / "run_results.json").read_text())
    times: dict[str, float] = {}
    for r in results["results"]:
        kind = r["unique_id"].split(".")[0]
        times[kind] = times.get(kind, 0.0) + r["execution_time"]
    return times


def parity(
    settings,
    dbt_executable: Path | None = None,
    rtol: float = 1e-9,
    command: str = "build",
    full_refresh: bool = True,
) -> dict:
    """Build the models from the raw tables of ``settings.warehouse`` on DuckDB and on a
    local Spark (by default ``dbt build --full-refresh``: models, data tests and unit tests;
    ``full_refresh=False`` runs the incremental models incrementally on both) and compare
    every mart. Returns the comparisons and the wall time of each build."""
    import time

    from recfusion import transform

    export_dir = settings.spark_dir / "marts_export"
    shutil.rmtree(export_dir, ignore_errors=True)
    duck = settings.model_copy(update={"dbt_target": "duckdb", "dbt_executable": ""})
    extra = ["--full-refresh"] if full_refresh else []
    started = time.perf_counter()
    transform.run_dbt(duck, command, *extra)
    duckdb_s = time.perf_counter() - started
    duckdb_nodes = _run_times(duck)
    on_spark = settings.model_copy(
        update={"dbt_target": "spark", "dbt_executable": str(dbt_executable or spark_dbt())}
    )
    started = time.perf_counter()
    transform.run_dbt(on_spark, command, *extra, dbt_vars={"export_dir": str(export_dir)})
    spark_s = time.perf_counter() - started
    return {
        "tables": compare_marts(settings.warehouse, export_dir, rtol=rtol),
        "duckdb_s": duckdb_s,
        "spark_s": spark_s,
        "duckdb_nodes": duckdb_nodes,
        "spark_nodes": _run_times(on_spark),
    }
