"""The whole pipeline at growing sizes: time and peak memory of each stage.

    .venv/bin/python benchmarks/bench_scale.py --events 1000000 10000000

For each size, generated events (benchmarks/generate_events.py: about 100 events per
user, 500 per item) are written straight into the raw tables, standing in for ingest;
then every stage from dbt to publish runs in its own process under /usr/bin/time, so
each stage's peak RSS is its own. Training runs one epoch of the learned gate only (the
cost per epoch is what grows with size). Writes benchmarks/results/scale.md and
benchmarks/results/scale.png.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import duckdb

sys.path.insert(0, str(Path(__file__).resolve().parent))
from generate_events import shape, write_events  # noqa: E402

HERE = Path(__file__).resolve().parent
STAGES = ["transform", "validate_marts", "embed", "train", "score", "validate_recommendations"]
STAGES += ["publish"]
RUN_STAGE = (
    "import json, sys; from recfusion import pipeline; from recfusion.settings import Settings; "
    "print(json.dumps(getattr(pipeline, sys.argv[1])(Settings()), default=str))"
)
SETTINGS = {
    "RECFUSION_TRAIN__EPOCHS": "1",
    "RECFUSION_TRAIN__VARIANTS": '["learned"]',
    "RECFUSION_DUCKDB_THREADS": "2",
}


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


def timed(argv: list[str], env: dict) -> dict:
    """``argv`` under /usr/bin/time: wall seconds and peak RSS of its whole process tree."""
    with tempfile.NamedTemporaryFile("r", suffix=".time") as out:
        proc = subprocess.run(
            ["/usr/bin/time", "-f", "%e %M", "-o", out.name, *argv],
            env=env,
            capture_output=True,
            text=True,
        )
        if proc.returncode != 0:
            raise SystemExit(f"{' '.join(argv[:4])} failed:\n{proc.stdout[-3000:]}{proc.stderr}")
        wall, rss_kib = out.read().split()[-2:]
    return {"seconds": float(wall), "peak_rss_mib": int(rss_kib) / 1024}


def run_size(n_events: int, scratch: Path) -> dict:
    home = scratch / f"home-{n_events}"
    shutil.rmtree(home, ignore_errors=True)
    home.mkdir(parents=True)
    env = {**os.environ, **SETTINGS, "RECFUSION_HOME": str(home)}
    start = time.perf_counter()
    with duckdb.connect(str(home / "warehouse.duckdb")) as con:
        write_events(con, n_events)
        raw = con.execute("select count(*) from raw.events").fetchone()[0]
    result = {
        "events": raw,
        **shape(n_events),
        "stages": {"generate (stands in for ingest)": {"seconds": time.perf_counter() - start}},
    }
    log(f"{n_events:,} events: generated {raw:,} raw rows")
    for stage in STAGES:
        result["stages"][stage] = timed([sys.executable, "-c", RUN_STAGE, stage], env)
        log(f"{n_events:,} events: {stage} {result['stages'][stage]}")
    shutil.rmtree(home, ignore_errors=True)
    return result


def growth(results: list[dict], stage: str) -> str:
    """The exponent b in seconds ~ events^b between the smallest and the largest size."""
    a, z = results[0], results[-1]
    ta, tz = a["stages"][stage]["seconds"], z["stages"][stage]["seconds"]
    if len(results) < 2 or ta <= 0 or tz <= 0:
        return "-"
    return f"{math.log(tz / ta) / math.log(z['events'] / a['events']):.2f}"


def write(results: list[dict], command: str, out: Path) -> None:
    sizes = [f"{r['events'] / 1e6:g}M" for r in results]
    head = "| stage | " + " | ".join(f"{s} s | {s} MiB" for s in sizes) + " | growth b |"
    lines = [
        "# Scale: the whole pipeline at growing sizes",
        "",
        "```bash",
        command,
        "```",
        "",
        f"Measured {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} on a 2-core CPU; load"
        f" average {os.getloadavg()[0]:.1f} at the end (other jobs shared the machine).",
        "Users, items: "
        + ", ".join(f"{s}: {r['users']:,} users" for s, r in zip(sizes, results, strict=True))
        + ". Seconds and peak RSS (its whole process tree) per stage; growth b fits"
        " seconds ~ events^b between the smallest and the largest size (1 is linear).",
        "",
        head,
        "|---|" + "---:|" * (2 * len(results) + 1),
    ]
    for stage in results[0]["stages"]:
        cells = []
        for r in results:
            s = r["stages"][stage]
            rss = s.get("peak_rss_mib")
            cells += [f"{s['seconds']:.1f}", f"{rss:.0f}" if rss else "-"]
        lines.append(f"| {stage} | " + " | ".join(cells) + f" | {growth(results, stage)} |")
    lines += ["", "![seconds per stage against events](scale.png)", ""]
    out.write_text("\n".join(lines))
    (out.with_suffix(".json")).write_text(json.dumps(results, indent=2))
    plot(results, out.with_suffix(".png"))


def plot(results: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2))
    events = [r["events"] for r in results]
    for i, stage in enumerate(results[0]["stages"]):
        color = f"C{i}"  # one colour per stage in both panels
        seconds = [r["stages"][stage]["seconds"] for r in results]
        left.plot(events, seconds, "o-", color=color, label=stage)
        if "peak_rss_mib" in results[0]["stages"][stage]:
            rss = [r["stages"][stage]["peak_rss_mib"] for r in results]
            right.plot(events, rss, "o-", color=color, label=stage)
    for axis, label in ((left, "seconds"), (right, "peak RSS, MiB")):
        axis.set_xscale("log")
        axis.set_yscale("log")
        axis.set_xlabel("events")
        axis.set_ylabel(label)
        axis.grid(True, which="both", alpha=0.3)
    left.plot(events, [events[i] / events[0] for i in range(len(events))], "k:", label="linear")
    left.legend(fontsize=7)
    right.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, nargs="+", default=[1_000_000, 10_000_000])
    parser.add_argument("--scratch", type=Path, help="working folder (default: temporary)")
    parser.add_argument("--out", type=Path, default=HERE / "results" / "scale.md")
    args = parser.parse_args()
    command = ".venv/bin/python benchmarks/bench_scale.py --events " + " ".join(
        str(n) for n in args.events
    )
    with tempfile.TemporaryDirectory(prefix="bench-scale-") as tmp:
        scratch = args.scratch or Path(tmp)
        results = [run_size(n, scratch) for n in sorted(args.events)]
    write(results, command, args.out)
    print(args.out.read_text())


if __name__ == "__main__":
    main()
