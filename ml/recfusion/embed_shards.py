"""Embedding across several worker processes, one per GPU when there are several.

The texts still to embed are sorted by cache key and cut into ``workers`` contiguous
shards. Each shard runs in a fresh (spawned) process that loads the encoder on its own
device and writes ``shard-I-of-N.npz`` (cache keys and vectors) under
``RECFUSION_HOME/tmp/embed/<job>/``: first to a hidden temporary name, then renamed, so a
file under the final name is always complete. Only the parent touches the warehouse: it
reads every shard back, checks each holds exactly the keys it was given, and hands the
vectors to ``embed_items``, which writes them in one transaction.

The job folder is named by a hash of the model and the keys, so a rerun of the same work
after a crash reuses the shards that finished and embeds only the rest; it is removed once
the vectors are committed.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import signal
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

log = logging.getLogger(__name__)


class EmbedWorkerFailed(RuntimeError):
    """A shard's worker process died or raised; nothing of that run was merged."""


@dataclass
class Shard:
    index: int
    count: int
    device: str
    folder: Path

    @property
    def name(self) -> str:
        return f"shard-{self.index:03d}-of-{self.count:03d}"

    @property
    def input(self) -> Path:
        return self.folder / f"{self.name}.input.parquet"

    @property
    def output(self) -> Path:
        return self.folder / f"{self.name}.npz"


def worker_devices(setting: str, workers: int) -> list[str]:
    """The device of each worker: ``cuda:i`` round-robin over the GPUs, else ``cpu``."""
    import torch

    gpus = torch.cuda.device_count() if setting in ("auto", "cuda") else 0
    if setting == "cuda" and gpus == 0:
        raise RuntimeError("embed.device is 'cuda' but torch sees no GPU")
    if gpus == 0:
        return ["cpu"] * workers
    if workers > gpus:
        log.warning("embed.workers=%d on %d GPUs: some GPUs run several workers", workers, gpus)
    return [f"cuda:{i % gpus}" for i in range(workers)]


def job_folder(home: Path, model_key: str, keys: list[str]) -> Path:
    digest = hashlib.sha256("\n".join([model_key, *keys]).encode()).hexdigest()[:16]
    return home / "tmp" / "embed" / digest


def read_shard(path: Path, expected_keys: list[str]) -> np.ndarray | None:
    """The vectors of a finished shard in ``expected_keys`` order; None if it is unusable.

    Unusable: missing, unreadable (e.g. truncated) or holding other keys than expected.
    """
    if not path.exists():
        return None
    try:
        with np.load(path, allow_pickle=False) as data:
            keys, vectors = data["keys"].tolist(), data["vectors"]
    except Exception as err:  # a damaged file is recomputed, never merged
        log.warning("%s: unreadable shard (%s); embedding it again", path, err)
        return None
    if keys != expected_keys or vectors.shape[0] != len(expected_keys):
        log.warning("%s: holds other keys than its shard; embedding it again", path)
        return None
    return vectors.astype(np.float32, copy=False)


def _die_with_parent() -> None:
    """Linux: have the kernel SIGKILL this worker when the parent dies (best effort)."""
    try:
        import ctypes

        pr_set_pdeathsig = 1
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(pr_set_pdeathsig, signal.SIGKILL)
    except (OSError, AttributeError):
        pass


def run_shard(shard: Shard, parent_pid: int, encoder_args: dict, threads: int) -> None:
    """Worker body: embed one shard's texts and write its vectors atomically."""
    _die_with_parent()
    if os.getppid() != parent_pid:  # the parent died before the death signal was armed
        os._exit(1)
    import torch

    from recfusion.embed import Encoder

    if threads:
        torch.set_num_threads(threads)
    todo = pd.read_parquet(shard.input)
    encoder = Encoder(device=shard.device, **encoder_args)
    vectors = encoder.encode(todo["item_text"].tolist(), progress=False)
    tmp = shard.folder / f".{shard.name}.{os.getpid()}.tmp.npz"
    with tmp.open("wb") as fh:
        np.savez(fh, keys=todo["cache_key"].to_numpy(dtype=str), vectors=vectors)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, shard.output)


def embed_sharded(
    todo: pd.DataFrame, cfg, home: Path, model_key: str
) -> tuple[np.ndarray, list[dict], Path]:
    """Embed ``todo`` (cache_key, item_text) in ``cfg.workers`` processes.

    Returns the vectors in ``todo``'s row order, one small record per shard, and the job
    folder (for the caller to remove once the vectors are committed).
    """
    import multiprocessing

    order = np.argsort(todo["cache_key"].to_numpy(), kind="stable")
    ordered = todo.iloc[order].reset_index(drop=True)
    keys = ordered["cache_key"].tolist()
    folder = job_folder(home, model_key, keys)
    folder.mkdir(parents=True, exist_ok=True)
    for stale in folder.glob(".*.tmp.npz"):  # left by a killed worker: never merged
        stale.unlink()
    remove_abandoned_jobs(folder)

    count = min(cfg.workers, len(ordered))
    devices = worker_devices(cfg.device, count)
    bounds = np.linspace(0, len(ordered), count + 1).astype(int)
    shards = [Shard(i, count, devices[i], folder) for i in range(count)]
    ranges = {s.index: (bounds[s.index], bounds[s.index + 1]) for s in shards}

    # CPU workers split the cores between them instead of each taking all of them
    threads = max(1, (os.cpu_count() or 1) // count) if devices[0] == "cpu" else 0
    encoder_args = {
        "model": cfg.model,
        "max_length": cfg.max_length,
        "batch_size": cfg.batch_size,
    }
    ctx = multiprocessing.get_context("spawn")  # CUDA cannot be used in a forked child
    running = {}
    reused = 0
    for shard in shards:
        lo, hi = ranges[shard.index]
        if read_shard(shard.output, keys[lo:hi]) is not None:
            reused += 1
            continue
        shard.output.unlink(missing_ok=True)
        ordered.iloc[lo:hi][["cache_key", "item_text"]].to_parquet(shard.input)
        proc = ctx.Process(
            target=run_shard,
            args=(shard, os.getpid(), encoder_args, threads),
            name=f"recfusion-embed-{shard.name}",
        )
        proc.start()
        running[shard.index] = proc
    log.info(
        "embedding %d items in %d shards on %s (%d reused from an earlier attempt)",
        len(ordered),
        count,
        sorted(set(devices)),
        reused,
    )
    failed = []
    for index, proc in running.items():
        proc.join()
        if proc.exitcode != 0:
            failed.append(f"{shards[index].name} on {shards[index].device}: exit {proc.exitcode}")
    if failed:
        raise EmbedWorkerFailed(
            f"embedding workers failed ({'; '.join(failed)}); their output was not merged "
            f"and the finished shards in {folder} are reused by the next run"
        )

    parts, records = [], []
    for shard in shards:
        lo, hi = ranges[shard.index]
        vectors = read_shard(shard.output, keys[lo:hi])
        if vectors is None:
            raise EmbedWorkerFailed(f"{shard.output}: worker exited cleanly but left no shard")
        parts.append(vectors)
        records.append({"shard": shard.index, "rows": int(hi - lo), "device": shard.device})
    out = np.concatenate(parts)
    result = np.empty_like(out)
    result[order] = out  # back to todo's row order
    return result, records, folder


def remove_abandoned_jobs(current: Path, older_than_s: float = 86_400) -> None:
    """Remove other jobs' folders untouched for a day: their item set changed since."""
    now = time.time()
    for other in current.parent.iterdir():
        if other != current and now - other.stat().st_mtime > older_than_s:
            log.info("removing abandoned embedding job %s", other)
            shutil.rmtree(other, ignore_errors=True)


def clear_job(folder: Path) -> None:
    """Remove a job's shard folder once its vectors are committed."""
    shutil.rmtree(folder, ignore_errors=True)
