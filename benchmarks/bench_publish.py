"""Readers during publishes: a reader process loops over the published snapshot while
the writer publishes new versions; reports reads, latency and any partial or mixed read.

    .venv/bin/python benchmarks/bench_publish.py --users 20000 --versions 10

Writes benchmarks/results/publish.md.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd

from recfusion.publish import WATCH, publish
from recfusion.settings import Settings

HERE = Path(__file__).resolve().parent


def candidate(settings: Settings, version: int, users: int, k: int = 10) -> None:
    n = users * k
    frame = pd.DataFrame(
        {
            "user_id": np.repeat([f"u{u}" for u in range(users)], k),
            "rank": np.tile(np.arange(1, k + 1), users),
            "item_id": [f"i{(i * 7 + version) % 5000}" for i in range(n)],
            "score": np.full(n, float(version)),
            "reason": "because",
            "model_version": version,
            "run_id": f"run{version}",
        }
    )
    con = duckdb.connect(str(settings.warehouse))
    con.register("f", frame)
    con.execute("create or replace table main.recommendations_candidate as select * from f")
    con.close()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--users", type=int, default=20_000)
    parser.add_argument("--versions", type=int, default=10)
    parser.add_argument("--out", type=Path, default=HERE / "results" / "publish.md")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        settings = Settings(home=tmp / "home")
        settings.ensure_dirs()
        candidate(settings, 0, args.users)
        publish(settings)
        stop, out = tmp / "stop", tmp / "reader.json"
        reader = subprocess.Popen(
            [
                sys.executable,
                "-c",
                WATCH,
                str(settings.published_dir / "CURRENT.json"),
                str(stop),
                str(out),
            ]
        )
        while not (tmp / "ready").exists():
            time.sleep(0.05)
        publish_s = []
        for v in range(1, args.versions + 1):
            candidate(settings, v, args.users)
            start = time.perf_counter()
            publish(settings)
            publish_s.append(time.perf_counter() - start)
        stop.touch()
        reader.wait(timeout=120)
        result = json.loads(out.read_text())
    lat = np.array(result["latencies"]) * 1e3
    p50, p99 = np.percentile(lat, 50), np.percentile(lat, 99)
    command = f"benchmarks/bench_publish.py --users {args.users} --versions {args.versions}"
    table = f"""# Readers during publishes

Command: `.venv/bin/python {command}`
({args.users * 10:,} rows per snapshot; one reader process looping over the pointer and
its snapshot while the writer published {args.versions} versions; 2-core CPU).

| figure | value |
|---|---|
| reads | {len(lat)} |
| partial or mixed reads, errors | {len(result["errors"])} |
| versions seen by the reader | {len(result["versions"])} of {args.versions + 1} |
| read latency p50 / p99 / max (ms) | {p50:.0f} / {p99:.0f} / {lat.max():.0f} |
| publish time p50 / max (s) | {np.median(publish_s):.2f} / {max(publish_s):.2f} |
"""
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(table)
    print(table)


if __name__ == "__main__":
    main()
