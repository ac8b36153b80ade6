"""Validation time on a large events table: GX's SQL engine in DuckDB vs GX's pandas engine.

    .venv/bin/python benchmarks/bench_validation.py --rows 10000000

Builds ``raw.events`` with N generated rows in a scratch warehouse, then validates the
``raw_events`` suite both ways in one run: (1) recfusion's gate, GX's SQL engine with every
metric a DuckDB query, and (2) the same suite over the frame read into pandas. Each side
runs in its own child process so peak RSS is its own. Writes a Markdown table to
benchmarks/results/validation.md.
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

HERE = Path(__file__).resolve().parent

CHILD = r"""
import json, resource, sys, time, warnings
from pathlib import Path
mode, home = sys.argv[1], Path(sys.argv[2])
from recfusion.settings import Settings
from recfusion import validate
settings = Settings(home=home)
start = time.perf_counter()
if mode == "sql":
    validate._run_suites_here(settings, ["raw_events"])
else:
    import duckdb, great_expectations as gx
    spec = validate.load_suite_spec("raw_events", settings)
    con = duckdb.connect(str(settings.warehouse), read_only=True)
    frame = con.execute(spec["query"]).df()
    con.close()
    context = gx.get_context(mode="ephemeral")
    batch = context.data_sources.add_pandas("p").add_dataframe_asset("t") \
        .add_batch_definition_whole_dataframe("w").get_batch(batch_parameters={"dataframe": frame})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = batch.validate(validate._build_suite(spec))
    assert result.success, "pandas validation failed"
took = time.perf_counter() - start
rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({"mode": mode, "seconds": took, "peak_rss_mib": rss}))
"""


def build(warehouse: Path, rows: int) -> float:
    start = time.perf_counter()
    con = duckdb.connect(str(warehouse))
    con.execute("create schema raw")
    con.execute(f"""
        create table raw.events as
        select 'e' || range as event_id, 'u' || (range % 100000) as user_id,
               'i' || (range % 20000) as item_id,
               ['view', 'cart', 'purchase', 'rating'][1 + range % 4] as event_type,
               timestamp '2025-01-01' + to_seconds(range % 31536000) as event_ts,
               case when range % 4 = 3 then 1 + range % 5 end::double as rating,
               null::varchar as query, 'bench:' || range as source_loc,
               'bench' as load_id
        from range({rows})""")
    con.close()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--out", type=Path, default=HERE / "results" / "validation.md")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp)
        built = build(home / "warehouse.duckdb", args.rows)
        results = {}
        for mode in ("sql", "pandas"):
            proc = subprocess.run(
                [sys.executable, "-c", CHILD, mode, str(home)], capture_output=True, text=True
            )
            if proc.returncode != 0:
                raise SystemExit(f"{mode} failed:\n{proc.stderr[-3000:]}")
            results[mode] = json.loads(proc.stdout.strip().splitlines()[-1])
            print(results[mode], flush=True)
    sql, pandas = results["sql"], results["pandas"]
    ratio_s = pandas["seconds"] / sql["seconds"]
    ratio_m = pandas["peak_rss_mib"] / sql["peak_rss_mib"]
    table = f"""# Validation benchmark

Command: `.venv/bin/python benchmarks/bench_validation.py --rows {args.rows}`
(2-core CPU, table built in {built:.1f}s; suite `raw_events`, 8 expectations).

| engine | seconds | peak RSS (MiB) |
|---|---|---|
| GX SQL engine in DuckDB (recfusion's gate) | {sql["seconds"]:.1f} | {sql["peak_rss_mib"]:.0f} |
| GX pandas engine over the frame | {pandas["seconds"]:.1f} | {pandas["peak_rss_mib"]:.0f} |
| ratio pandas / SQL | {ratio_s:.2f}x | {ratio_m:.2f}x |
"""
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(table)
    print(table)


if __name__ == "__main__":
    main()
