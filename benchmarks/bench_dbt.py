"""dbt build time and peak memory; an incremental day against a full build; dbt's overhead.

    .venv/bin/python benchmarks/bench_dbt.py --datasets ml-100k beauty 1m 10m

For each data set, in a scratch folder, the raw tables are landed once (ML-100K and
Beauty through ``recfusion.load.land``; the generated ones straight into ``raw.*`` by
``benchmarks/generate_events.py``), and then, each on its own copy of that warehouse:

1. ``dbt build`` from scratch: wall time, CPU time and peak RSS of the dbt process.
2. An incremental day: the newest 1% of events held back, ``dbt build`` from scratch,
   the 1% landed as a second load, ``dbt build`` again (incremental); its time is set
   against the full build of step 1.
3. dbt's overhead: ``dbt run`` (models only) against the same models' SQL, compiled by
   ``dbt compile`` on the raw-only warehouse and run in dependency order through the
   duckdb Python API with the profile's settings, in a child process of its own
   (``--no-overhead`` leaves it out).

Every dbt process gets DuckDB's memory limit and threads from ``RECFUSION_DUCKDB_MEMORY``
and ``RECFUSION_DUCKDB_THREADS`` (profiles.yml; 4GB and 2 unless set). Peak RSS and CPU
come from ``/usr/bin/time``. Writes a Markdown table to benchmarks/results/dbt.md, with
the command that produced it and the machine's load while it ran.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import duckdb

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(REPO))

from benchmarks.generate_events import record_load, write_events  # noqa: E402

PROJECT = REPO / "dbt_project"
SHARED = REPO.parent / "shared" / "data"
REAL = {
    "ml-100k": ("movielens", SHARED / "ml-100k"),
    "beauty": ("beauty", SHARED / "amazon-beauty"),
}
GENERATED = {"1m": 1_000_000, "10m": 10_000_000}
HELD_BACK = 0.01
TIME_FORMAT = "%e %M %U %S"  # wall seconds, peak RSS KiB, user and system CPU seconds


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


def land(name: str, warehouse: Path) -> int:
    """Write the raw tables of data set ``name``; return the number of raw events."""
    if name in GENERATED:
        with duckdb.connect(str(warehouse)) as con:
            write_events(con, GENERATED[name])
    else:
        from recfusion.load import land as land_raw
        from recfusion.settings import Settings
        from recfusion.sources import load_source

        source, path = REAL[name]
        if not path.exists():
            raise SystemExit(f"{path}: not found; the real data sets live in ../shared/data")
        settings = Settings(home=warehouse.parent, source=source, path=path)
        land_raw(settings, load_source(source, path, settings))
    with duckdb.connect(str(warehouse), read_only=True) as con:
        return con.execute("select count(*) from raw.events").fetchone()[0]


def timed(argv: list[str], env: dict) -> dict:
    """Run ``argv`` under /usr/bin/time: its wall and CPU seconds, peak RSS and stdout."""
    with tempfile.NamedTemporaryFile("r", suffix=".time") as out:
        proc = subprocess.run(
            ["/usr/bin/time", "-f", TIME_FORMAT, "-o", out.name, *argv],
            env=env,
            capture_output=True,
            text=True,
        )
        if proc.returncode != 0:
            raise SystemExit(f"{' '.join(argv[:3])} failed:\n{proc.stdout[-3000:]}{proc.stderr}")
        wall, rss_kib, user, system = out.read().split()[-4:]
    return {
        "seconds": float(wall),
        "cpu_seconds": float(user) + float(system),
        "peak_rss_mib": int(rss_kib) / 1024,
        "stdout": proc.stdout,
    }


def dbt(warehouse: Path, command: str, *extra: str) -> dict:
    target = warehouse.parent / "target"
    env = {
        **os.environ,
        "RECFUSION_WAREHOUSE": str(warehouse),
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
    }
    argv = [
        str(Path(sys.executable).with_name("dbt")),
        *command.split(),
        "--project-dir",
        str(PROJECT),
        "--profiles-dir",
        str(PROJECT),
        "--target-path",
        str(target),
        "--log-path",
        str(warehouse.parent / "logs"),
        *extra,
    ]
    result = timed(argv, env)
    del result["stdout"]
    results, manifest = target / "run_results.json", target / "manifest.json"
    if results.exists():
        nodes = json.loads(results.read_text())["results"]
        slowest = sorted(nodes, key=lambda r: -r["execution_time"])[:3]
        result["slowest"] = [
            (r["unique_id"].split(".")[-1], round(r["execution_time"], 1)) for r in slowest
        ]
        config = json.loads(manifest.read_text())["nodes"]
        result["incremental_models_seconds"] = sum(
            r["execution_time"]
            for r in nodes
            if config.get(r["unique_id"], {}).get("config", {}).get("materialized") == "incremental"
        )
    return result


def copy_of(warehouse: Path, name: str) -> Path:
    folder = warehouse.parent.parent / name
    folder.mkdir()
    shutil.copy(warehouse, folder / warehouse.name)
    return folder / warehouse.name


def hold_back_newest(warehouse: Path) -> int:
    """Move the newest 1% of raw events aside (to raw.held_back); return how many."""
    with duckdb.connect(str(warehouse)) as con:
        n = con.execute("select count(*) from raw.events").fetchone()[0]
        held = max(int(n * HELD_BACK), 1)
        con.execute(f"""
            create table raw.held_back as
            select * from raw.events order by event_ts desc, event_id desc limit {held}""")
        con.execute("""
            delete from raw.events using raw.held_back
            where raw.events.event_id = held_back.event_id
              and raw.events.source_loc = held_back.source_loc""")
        con.execute(
            "update raw.loads set raw_events = raw_events - ?, landed_events = landed_events - ?",
            [held, held],
        )
        return held


def land_held_back(warehouse: Path) -> None:
    """Land the held-back events as a second load, as the next day's landing would."""
    with duckdb.connect(str(warehouse)) as con:
        con.execute("update raw.held_back set load_id = 'next-day'")
        con.execute("insert into raw.events select * from raw.held_back")
        con.execute("drop table raw.held_back")
        record_load(con, "next-day")


PLAIN_SQL = r"""
import json, sys, time, duckdb
from pathlib import Path
warehouse, manifest = sys.argv[1], json.loads(Path(sys.argv[2]).read_text())
models = {k: v for k, v in manifest["nodes"].items() if v["resource_type"] == "model"}
done, order = set(), []
def visit(key):
    if key in done: return
    done.add(key)
    for dep in models[key]["depends_on"]["nodes"]:
        if dep in models: visit(dep)
    order.append(key)
for key in sorted(models): visit(key)
con = duckdb.connect(warehouse, config={"threads": int(sys.argv[3]), "memory_limit": sys.argv[4],
                     "preserve_insertion_order": False})
con.execute("set TimeZone = 'UTC'")
start = time.perf_counter()
for key in order:
    node = models[key]
    sql = node["compiled_code"]
    kind = "view" if node["config"]["materialized"] == "view" else "table"
    con.execute(f"create schema if not exists {node['schema']}")
    con.execute(f"create or replace {kind} {node['schema']}.{node['alias']} as {sql}")
print(json.dumps({"models": len(order), "sql_seconds": time.perf_counter() - start}))
"""


def plain_sql(warehouse: Path, manifest: Path) -> dict:
    threads = os.environ.get("RECFUSION_DUCKDB_THREADS", "2")
    memory = os.environ.get("RECFUSION_DUCKDB_MEMORY", "4GB")
    argv = [sys.executable, "-c", PLAIN_SQL, str(warehouse), str(manifest), threads, memory]
    result = timed(argv, dict(os.environ))
    result.update(json.loads(result.pop("stdout").strip().splitlines()[-1]))
    return result


def bench(name: str, scratch: Path, overhead: bool = True) -> dict:
    base = scratch / name / "raw"
    base.mkdir(parents=True)
    warehouse = base / "warehouse.duckdb"
    start = time.perf_counter()
    n_events = land(name, warehouse)
    log(f"{name}: {n_events} raw events landed in {time.perf_counter() - start:.1f}s")

    full = dbt(copy_of(warehouse, "full"), "build")
    log(f"{name}: full build {full}")

    day = copy_of(warehouse, "incremental")
    held = hold_back_newest(day)
    before = dbt(day, "build")
    land_held_back(day)
    # the same day again on a copy, without the unit tests (their inputs are fixed rows:
    # dbt's advice is to run them in development and CI, not in every production build)
    day_copy = copy_of(day, "incremental_no_unit")
    shutil.copytree(day.parent / "target", day_copy.parent / "target")
    incremental = dbt(day, "build")
    no_unit = dbt(day_copy, "build", "--exclude-resource-type", "unit_test")
    log(f"{name}: incremental day of {held} events {incremental} (first build {before})")
    log(f"{name}: the same without unit tests {no_unit}")
    result = {
        "events": n_events,
        "full": full,
        "held_back": held,
        "incremental": incremental,
        "incremental_no_unit": no_unit,
    }
    if not overhead:
        for folder in ("raw", "full", "incremental", "incremental_no_unit"):
            shutil.rmtree(scratch / name / folder, ignore_errors=True)
        return result

    compiled = copy_of(warehouse, "compiled")
    dbt(compiled, "compile")
    plain = plain_sql(copy_of(warehouse, "plain"), compiled.parent / "target" / "manifest.json")
    run = dbt(copy_of(warehouse, "run"), "run")
    log(f"{name}: plain SQL {plain}, dbt run {run}")
    for folder in ("raw", "full", "incremental", "incremental_no_unit", "compiled", "plain", "run"):
        shutil.rmtree(scratch / name / folder, ignore_errors=True)
    return {**result, "plain": plain, "run": run}


def load_average() -> str:
    return " / ".join(f"{x:.1f}" for x in os.getloadavg())


HEADER = "\n".join(
    [
        "| data set | raw events | full `dbt build` (s) | CPU (s) | peak RSS (MiB)"
        " | incremental day `dbt build` (s, vs full) | same, unit tests left out (s, vs full)"
        " | incremental models alone (s) | `dbt run` (s) | same SQL via duckdb (s)"
        " | dbt overhead |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
)


def write_table(results: dict, command: str, out: Path, loads: tuple[str, str]) -> str:
    threads = os.environ.get("RECFUSION_DUCKDB_THREADS", "2")
    memory = os.environ.get("RECFUSION_DUCKDB_MEMORY", "4GB")
    rows = []
    for name, r in results.items():
        full, inc, nu = r["full"], r["incremental"], r["incremental_no_unit"]
        own_full, own_inc = full["incremental_models_seconds"], inc["incremental_models_seconds"]
        if "run" in r:
            run, plain = r["run"]["seconds"], r["plain"]["seconds"]
            overhead = f"{run:.1f} | {plain:.1f} | {run / plain:.2f}x"
        else:
            overhead = "– | – | –"
        rows.append(
            f"| {name} | {r['events']:,} | {full['seconds']:.1f} | {full['cpu_seconds']:.0f} |"
            f" {full['peak_rss_mib']:,.0f} | {inc['seconds']:.1f}"
            f" ({inc['seconds'] / full['seconds']:.1%}; CPU {inc['cpu_seconds']:.0f} s,"
            f" {inc['cpu_seconds'] / full['cpu_seconds']:.1%}) | {nu['seconds']:.1f}"
            f" ({nu['seconds'] / full['seconds']:.1%}; CPU {nu['cpu_seconds']:.0f} s,"
            f" {nu['cpu_seconds'] / full['cpu_seconds']:.1%}) | {own_full:.1f} → {own_inc:.1f}"
            f" ({own_inc / own_full:.0%}) | {overhead} |"
        )
    slowest = "\n".join(
        f"- {name}: full build {r['full'].get('slowest')}, incremental"
        f" {r['incremental'].get('slowest')} ({r['held_back']:,} events held back)"
        for name, r in results.items()
    )
    text = f"""# dbt benchmark

Command: `{command}`

Machine: {os.cpu_count()} CPUs, shared with other work; load average (1/5/15 min)
{loads[0]} at the start and {loads[1]} at the end. DuckDB threads {threads}, memory_limit
{memory}, dbt threads 2 (profiles.yml).

{HEADER}
{chr(10).join(rows)}

- full `dbt build`: every model, data test and unit test from an empty warehouse (raw
  tables only); wall and CPU seconds and peak RSS of the dbt process.
- incremental day: the newest 1% of events held back, a full build, then the 1% landed
  as a second load and `dbt build` again (every model, data test and unit test; the
  data tests check the rows the run wrote, docs/dbt.md); wall seconds against the full
  build's, and CPU seconds against its CPU seconds. "Unit tests left out": the same
  day on a copy of the warehouse, `dbt build --exclude-resource-type unit_test`.
- incremental models alone: the time dbt reports for the incremental models (by day:
  staged events, sessions, daily aggregates, click-through; by user: the user-grain
  tables) in the full build and in the incremental day.
- dbt overhead: `dbt run` (models only, 2 at a time) against the same compiled SQL run
  one model after another through the duckdb Python API (one connection, same settings).

Slowest nodes (seconds, as dbt reports them; with 2 dbt threads they overlap):

{slowest}
"""
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text)
    return text


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--datasets",
        nargs="+",
        default=["ml-100k", "beauty", "1m", "10m"],
        choices=[*REAL, *GENERATED],
    )
    parser.add_argument("--out", type=Path, default=HERE / "results" / "dbt.md")
    parser.add_argument("--scratch", type=Path, help="working folder (default: a temporary one)")
    parser.add_argument(
        "--no-overhead", action="store_true", help="leave out the dbt-overhead comparison"
    )
    args = parser.parse_args()
    command = " ".join([".venv/bin/python", "benchmarks/bench_dbt.py", *sys.argv[1:]])
    start_load = load_average()
    results = {}
    with tempfile.TemporaryDirectory(dir=args.scratch) as tmp:
        for name in args.datasets:
            results[name] = bench(name, Path(tmp), overhead=not args.no_overhead)
    print(write_table(results, command, args.out, (start_load, load_average())))


if __name__ == "__main__":
    main()
