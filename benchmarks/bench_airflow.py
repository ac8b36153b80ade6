"""The whole pipeline through Airflow against the same stages called directly, in one run.

Both DAGs run with `airflow dags test` (SQLite, in-process) on a data set; then the same
stages run through `recfusion run` in a fresh home. Reports each Airflow task's time from
Airflow's own records, both totals and their ratio (Airflow's overhead).

    .venv/bin/python benchmarks/bench_airflow.py --source movielens --path ../shared/data/ml-100k

Writes benchmarks/results/airflow.md.
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from recfusion.orchestration import POOLS

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
BIN = Path(sys.executable).parent
DAY = "2026-01-02"


def run(cmd: list[str], env: dict, log) -> float:
    """Run a command, its output to ``log``; its wall time in seconds (fails loudly)."""
    start = time.perf_counter()
    proc = subprocess.run(cmd, env=env, stdout=log, stderr=subprocess.STDOUT)
    took = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed (exit {proc.returncode}); see {log.name}")
    return took


def task_times(db: Path) -> list[tuple[str, str, float]]:
    with sqlite3.connect(db) as con:
        rows = con.execute(
            "select dag_id, task_id, (julianday(end_date) - julianday(start_date)) * 86400 "
            "from task_instance where state = 'success' order by start_date"
        ).fetchall()
    return [(dag, task, float(seconds)) for dag, task, seconds in rows]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--source", default="synthetic")
    parser.add_argument("--path", default=None)
    parser.add_argument("--out", type=Path, default=HERE / "results" / "airflow.md")
    args = parser.parse_args()
    path = str(Path(args.path).resolve()) if args.path else None
    with tempfile.TemporaryDirectory(prefix="bench-airflow-") as tmp:
        tmp = Path(tmp)
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")},
            "AIRFLOW_HOME": str(tmp / "airflow"),
            "RECFUSION_HOME": str(tmp / "airflow-home"),
            "AIRFLOW__CORE__DAGS_FOLDER": str(REPO / "dags"),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__PARALLELISM": "2",
        }
        airflow = str(BIN / "airflow")
        with open(tmp / "airflow.log", "w") as log:
            run([airflow, "db", "migrate"], env, log)
            for pool, (slots, description) in POOLS.items():
                run([airflow, "pools", "set", pool, str(slots), description], env, log)
            conf = json.dumps({"source": args.source, "path": path})
            print(f"airflow dags test: {args.source}", flush=True)
            ingest = run([airflow, "dags", "test", "recfusion_ingest", DAY, "-c", conf], env, log)
            rest = run([airflow, "dags", "test", "recfusion_train_publish", DAY], env, log)
        tasks = task_times(tmp / "airflow" / "airflow.db")

        direct_env = {**env, "RECFUSION_HOME": str(tmp / "direct-home")}
        cmd = [str(BIN / "recfusion"), "run", "--source", args.source]
        cmd += ["--path", path] if path else []
        print("recfusion run (no Airflow)", flush=True)
        with open(tmp / "direct.log", "w") as log:
            direct = run(cmd, direct_env, log)

    through_airflow = ingest + rest
    in_tasks = sum(seconds for _, _, seconds in tasks)
    dbt_tasks = [t for t in tasks if t[1].startswith("dbt.")]
    lines = [
        "# The whole pipeline through Airflow",
        "",
        "Command (repository root, after `make install`):",
        "",
        "```bash",
        f".venv/bin/python benchmarks/bench_airflow.py --source {args.source}"
        + (f" --path {args.path}" if args.path else ""),
        "```",
        "",
        f"Measured {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, 2-core CPU,"
        f" load average {os.getloadavg()[0]:.1f} at the end (other jobs on the machine).",
        "Settings: the defaults, with RECFUSION_* from the environment:"
        f" `{ {k: v for k, v in os.environ.items() if k.startswith('RECFUSION_')} }`.",
        "",
        "| what | seconds |",
        "|---|---:|",
        f"| `airflow dags test recfusion_ingest` | {ingest:.1f} |",
        f"| `airflow dags test recfusion_train_publish` | {rest:.1f} |",
        f"| both DAGs, wall | {through_airflow:.1f} |",
        f"| sum of task times (Airflow's records) | {in_tasks:.1f} |",
        f"| of which {len(dbt_tasks)} dbt tasks | {sum(t[2] for t in dbt_tasks):.1f} |",
        f"| `recfusion run`, same stages without Airflow | {direct:.1f} |",
        f"| **ratio Airflow / direct** | **{through_airflow / direct:.2f}** |",
        "",
        "Tasks other than dbt's, seconds:",
        "",
        "| DAG | task | seconds |",
        "|---|---|---:|",
    ]
    lines += [f"| {d} | {t} | {s:.1f} |" for d, t, s in tasks if not t.startswith("dbt.")]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
