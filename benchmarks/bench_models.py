"""Quality benchmark: recfusion's fusion model, its baselines and a peer library, one run.

    .venv/bin/python benchmarks/bench_models.py --datasets ml-100k beauty --seeds 0 1 2

For each data set (from ../shared/data, or the generated one) it lands the data, builds the
marts with dbt and embeds the items (once; reused from ``--work``), then trains every
variant (learned gate, fixed alpha(t), long-only, short-only, ID-only SASRec) for every
seed, plus popularity. At the same time, in a child process, it trains the peer, rectools'
SASRec, on the same split in its own virtual environment (``.venv-rectools``, built here on
first use). Everything follows ../shared/EVALUATION.md: leave-one-out, the whole catalogue
ranked without the user's history, Recall and NDCG at 10 and 20, mean and spread over seeds.
Results go to ``benchmarks/results/models.md`` (and ``.json``) with the command.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"
RESULTS = ROOT / "benchmarks" / "results"
PEER_VENV = ROOT / ".venv-rectools"
PEER_PACKAGES = ["torch==2.13.0", "rectools[torch]==0.19.0"]
SOURCES = {
    "ml-100k": ("movielens", SHARED / "ml-100k"),
    "beauty": ("beauty", SHARED / "amazon-beauty"),
    "synthetic": ("synthetic", None),
}
# peer training: epochs between validation checks and the most epochs, per data set
PEER_SCHEDULE = {"ml-100k": (10, 200), "beauty": (3, 60), "synthetic": (5, 20)}

log = logging.getLogger("bench_models")


def ensure_peer_venv() -> Path:
    python = PEER_VENV / "bin" / "python"
    if not python.exists():
        log.info("building %s with %s", PEER_VENV, " ".join(PEER_PACKAGES))
        subprocess.run([sys.executable, "-m", "venv", str(PEER_VENV)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "-q", *PEER_PACKAGES], check=True)
    return python


def prepare(name: str, work: Path):
    """The warehouse for one data set: landed, built by dbt, items embedded (cached)."""
    from recfusion import pipeline
    from recfusion.settings import Settings
    from recfusion.warehouse import connect

    source, path = SOURCES[name]
    if path is not None and not path.exists():
        raise SystemExit(f"{path} is absent: the real data sets live in ../shared/data")
    settings = Settings(home=work / name, source=source, path=path)
    ready = False
    if settings.warehouse.exists():
        with connect(settings.warehouse, read_only=True) as con:
            ready = bool(
                con.execute(
                    "select count(*) from information_schema.tables "
                    "where table_schema = 'ml' and table_name = 'item_vectors'"
                ).fetchone()[0]
            )
    if not ready:
        for stage in (pipeline.ingest, pipeline.transform, pipeline.embed):
            log.info("%s: %s", name, stage.__name__)
            stage(settings)
    return settings


def export_split(data, path: Path) -> None:
    rows = [(u, int(i), p, len(s)) for u, s in enumerate(data.seqs) for p, i in enumerate(s)]
    pd.DataFrame(rows, columns=["user", "item", "pos", "n"]).to_csv(path, index=False)


def run_peer(name: str, split: Path, seeds: list[int], out: list[dict], schedule=None) -> None:
    python = ensure_peer_venv()
    every, most = schedule or PEER_SCHEDULE[name]
    for seed in seeds:
        cmd = [
            str(python),
            str(ROOT / "benchmarks" / "peer_rectools.py"),
            "--split",
            str(split),
            "--seed",
            str(seed),
            "--eval-every",
            str(every),
            "--max-epochs",
            str(most),
        ]
        log.info("peer %s seed %d: %s", name, seed, " ".join(cmd))
        env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
        proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
        lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")]
        if proc.returncode != 0 or not lines:
            log.error("peer %s seed %d failed:\n%s", name, seed, proc.stderr[-3000:])
            continue
        result = json.loads(lines[-1][len("RESULT ") :])
        log.info("peer %s seed %d: test NDCG@10 %.4f", name, seed, result["test"]["ndcg_10"])
        out.append({"dataset": name, "model": "rectools SASRec", **result})


class Rows(list):
    """Results so far, also written after every run: a long benchmark cut short keeps them."""

    def __init__(self, path: Path):
        super().__init__()
        self.path = path

    def append(self, row: dict) -> None:
        super().append(row)
        self.path.write_text(json.dumps(list(self), indent=1, default=float))


def run_ours(name, settings, data, seeds, variants, epochs, patience, out: list[dict]):
    from recfusion.model.data import evaluation_batch
    from recfusion.model.segments import segment_masks, segment_metrics
    from recfusion.model.train import fit, popularity

    test = evaluation_batch(data, "test", settings.train.max_history)
    masks = segment_masks(data, test, settings.train.short_n)
    valid = evaluation_batch(data, "valid", settings.train.max_history)
    pv, _ = popularity(data, valid)
    pt, pranks = popularity(data, test)
    out.append(
        {
            "dataset": name,
            "model": "popularity",
            "seed": 0,
            "valid": pv,
            "test": pt,
            "segments": segment_metrics(pranks, masks),
            "seconds": 0.0,
        }
    )
    for seed in seeds:
        for variant in variants:
            s = settings.model_copy(
                update={
                    "train": settings.train.model_copy(
                        update={"seed": seed, "epochs": epochs, "patience": patience, "threads": 1}
                    )
                }
            )
            r = fit(data, s, variant)
            log.info(
                "%s seed %d %-8s valid NDCG@10 %.4f test NDCG@10 %.4f (%d epochs, %.0fs)",
                name,
                seed,
                variant,
                r.valid["ndcg_10"],
                r.test["ndcg_10"],
                len(r.history),
                r.seconds,
            )
            out.append(
                {
                    "dataset": name,
                    "model": variant,
                    "seed": seed,
                    "valid": r.valid,
                    "test": r.test,
                    "best_epoch": r.best_epoch,
                    "epochs": len(r.history),
                    "seconds": round(r.seconds, 1),
                    "segments": segment_metrics(r.test_ranks, masks),
                }
            )


def summarise(rows: list[dict]) -> pd.DataFrame:
    flat = []
    for r in rows:
        flat.append(
            {
                "dataset": r["dataset"],
                "model": r["model"],
                "seed": r.get("seed", 0),
                **{f"test_{k}": v for k, v in r["test"].items()},
                "valid_ndcg_10": r["valid"]["ndcg_10"],
                "seconds": r.get("seconds", 0.0),
                **{f"seg_{k}": v for k, v in r.get("segments", {}).items()},
            }
        )
    return pd.DataFrame(flat)


def report(rows: list[dict], command: str, path: Path) -> str:
    frame = summarise(rows)
    names = {
        "learned": "recfusion, learned gate",
        "alpha": "fixed alpha(t) fusion",
        "long": "long-term only",
        "short": "short-term only",
        "sasrec": "ID-only SASRec (ours)",
        "popularity": "popularity",
        "rectools SASRec": "rectools 0.19 SASRec (peer)",
    }
    lines = [
        "# Model quality: recfusion against its baselines and rectools' SASRec",
        "",
        f"Command: `{command}`",
        "",
        f"Measured {datetime.now(UTC):%Y-%m-%d %H:%M} UTC on {platform.machine()}, "
        f"{os.cpu_count()} CPU cores, no GPU; protocol ../shared/EVALUATION.md (leave-one-out, "
        "full catalogue, history removed). Each figure is the mean over seeds ± the standard "
        "deviation (n = number of seeds); the test figures are those of the epoch with the "
        "best validation NDCG@10.",
        "",
    ]
    for dataset, part in frame.groupby("dataset", sort=False):
        lines += [
            f"## {dataset}",
            "",
            "| model | n | Recall@10 | NDCG@10 | Recall@20 | NDCG@20 | valid NDCG@10 | s per run |",
            "|---|---|---|---|---|---|---|---|",
        ]
        means = {}
        for model, g in part.groupby("model", sort=False):

            def cell(col, g=g):
                m, sd = g[col].mean(), (g[col].std(ddof=1) if len(g) > 1 else 0.0)
                return f"{m:.4f} ± {sd:.4f}"

            means[model] = g["test_ndcg_10"].mean()
            lines.append(
                f"| {names.get(model, model)} | {len(g)} | {cell('test_recall_10')} | "
                f"{cell('test_ndcg_10')} | {cell('test_recall_20')} | {cell('test_ndcg_20')} | "
                f"{cell('valid_ndcg_10')} | {g['seconds'].mean():.0f} |"
            )
        lines.append("")
        if "learned" in means:
            for other in ("rectools SASRec", "alpha", "long", "short", "sasrec", "popularity"):
                if other in means and means[other] > 0:
                    lines.append(
                        f"- learned gate / {names[other]}: NDCG@10 ratio "
                        f"{means['learned'] / means[other]:.3f}"
                    )
            lines.append("")
        seg_cols = [c for c in part.columns if c.startswith("seg_") and c.endswith("ndcg_10")]
        if seg_cols:
            segs = sorted({c[4:].split(".")[0] for c in seg_cols})
            sizes = {s: part[f"seg_{s}.users"].dropna().iloc[0] for s in segs}
            lines += [
                "Test NDCG@10 by segment (see ml/recfusion/model/segments.py):",
                "",
                "| model | " + " | ".join(f"{s} ({sizes[s]:.0f})" for s in segs) + " |",
                "|---|" + "---|" * len(segs),
            ]
            for model, g in part.groupby("model", sort=False):
                if f"seg_{segs[0]}.ndcg_10" not in g or g[f"seg_{segs[0]}.ndcg_10"].isna().all():
                    continue
                vals = " | ".join(f"{g[f'seg_{s}.ndcg_10'].mean():.4f}" for s in segs)
                lines.append(f"| {names.get(model, model)} | {vals} |")
            lines.append("")
    text = "\n".join(lines) + "\n"
    path.write_text(text)
    path.with_suffix(".json").write_text(json.dumps(rows, indent=1, default=float))
    return text


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--datasets", nargs="+", default=["ml-100k", "beauty"], choices=SOURCES)
    ap.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    ap.add_argument(
        "--variants", nargs="+", default=["learned", "alpha", "long", "short", "sasrec"]
    )
    ap.add_argument("--epochs", type=int, default=40)
    ap.add_argument("--patience", type=int, default=3)
    ap.add_argument("--no-peer", action="store_true", help="skip rectools")
    ap.add_argument(
        "--peer-schedule",
        nargs=2,
        type=int,
        metavar=("EVERY", "MAX"),
        help="peer epochs between validation checks and at most (default per data set)",
    )
    ap.add_argument("--work", type=Path, default=Path("/tmp/recfusion-bench"))
    ap.add_argument("--out", type=Path, default=RESULTS / "models.md")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    logging.getLogger("great_expectations").setLevel(logging.WARNING)
    # one torch thread per process, ours and the peer's alike: the two run side by side on
    # the same cores, and idle-spinning thread pools slow both down many times over
    import torch

    torch.set_num_threads(1)
    command = " ".join(["python", "benchmarks/bench_models.py", *(argv or sys.argv[1:])])

    from recfusion.model.data import read_interactions
    from recfusion.warehouse import connect

    args.work.mkdir(parents=True, exist_ok=True)
    rows = Rows(args.work / "ours.partial.json")
    for name in args.datasets:
        settings = prepare(name, args.work)
        with connect(settings.warehouse, read_only=True) as con:
            data = read_interactions(con)
        log.info("%s: %d users, %d items", name, len(data.users), data.n_items)
        peer_rows = Rows(args.work / f"{name}-peer.partial.json")
        peer = None
        if not args.no_peer:
            split = args.work / f"{name}-split.csv"
            export_split(data, split)
            peer = threading.Thread(
                target=run_peer, args=(name, split, args.seeds, peer_rows, args.peer_schedule)
            )
            peer.start()
        start = time.perf_counter()
        run_ours(name, settings, data, args.seeds, args.variants, args.epochs, args.patience, rows)
        log.info("%s: ours done in %.0fs", name, time.perf_counter() - start)
        if peer is not None:
            peer.join()
        rows += peer_rows
        print(report(rows, command, args.out))


if __name__ == "__main__":
    main()
