"""MLflow: one run per training, the model registered, aliases moved by a rule.

Every trained model becomes a new version of the registered model with alias
``challenger``. ``champion`` moves to it only when it beats the current champion's
validation NDCG@10 on the same held-out data by ``promote_margin``. When the champion was
trained on another data snapshot it is evaluated again on the current validation split;
a champion that cannot score the current catalogue is replaced. Each version's
description is its model card.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
from pathlib import Path

import numpy as np
import torch

from recfusion import names

log = logging.getLogger(__name__)

EXPERIMENT = "recfusion"
METRIC = "valid_ndcg_10"


def setup(settings):
    import mlflow

    settings.ensure_dirs()
    (settings.home / "mlflow").mkdir(parents=True, exist_ok=True)
    _create_local_store(settings)
    mlflow.set_tracking_uri(settings.tracking_uri)
    if mlflow.get_experiment_by_name(EXPERIMENT) is None:
        mlflow.create_experiment(EXPERIMENT, artifact_location=settings.artifact_root.as_uri())
    mlflow.set_experiment(EXPERIMENT)
    return mlflow


def _create_local_store(settings) -> None:
    """Create the embedded SQLite store whole or not at all.

    MLflow migrates a new SQLite database in many steps; a process killed half-way leaves a
    store that every later run fails to migrate. So a new store is migrated under a temporary
    name and renamed into place; a kill leaves only a temporary file, removed next time.
    """
    if settings.mlflow_tracking_uri:
        return  # a server or a store the operator manages
    from mlflow.tracking import MlflowClient

    db = settings.home / "mlflow" / "mlflow.db"
    if db.exists():
        return
    for stale in db.parent.glob("mlflow.db.*.tmp"):
        stale.unlink(missing_ok=True)
    tmp = db.with_name(f"mlflow.db.{os.getpid()}.tmp")
    MlflowClient(tracking_uri=f"sqlite:///{tmp}").search_experiments()  # creates and migrates
    with open(tmp, "rb+") as handle:
        os.fsync(handle.fileno())
    os.replace(tmp, db)


def flat_params(settings) -> dict[str, str]:
    out = {}
    for key, value in json.loads(settings.model_dump_json()).items():
        if isinstance(value, dict):
            out.update({f"{key}.{k}": str(v)[:500] for k, v in value.items()})
        else:
            out[key] = str(value)[:500]
    return out


def plot_training(results: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 4))
    for mode, res in results.items():
        epochs = [h["epoch"] for h in res.history]
        ax1.plot(epochs, [h["loss"] for h in res.history], label=mode)
        ax2.plot(epochs, [h["valid_ndcg_10"] for h in res.history], label=mode)
    ax1.set(title="training loss", xlabel="epoch", ylabel="cross-entropy")
    ax2.set(title="validation NDCG@10", xlabel="epoch", ylabel="NDCG@10")
    ax2.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def plot_gate(days_since_last: np.ndarray, gate: np.ndarray, alpha_k: float, path: Path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    ax.scatter(days_since_last, gate, s=6, alpha=0.5, label="learned gate (per user)")
    t = np.linspace(0, max(float(days_since_last.max(initial=1)), 1), 200)
    ax.plot(t, 1 / (1 + np.exp(-alpha_k * t)), color="black", label=f"alpha(t), k={alpha_k}")
    ax.set(
        xscale="symlog",
        xlabel="days since the last event",
        ylabel="weight of long-term side",
        title="gate on the validation users",
        ylim=(0, 1),
    )
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def plot_segments(segments: dict, path: Path) -> None:
    """Test NDCG@10 of every variant in every segment, as grouped bars."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = sorted({k.split(".")[0] for seg in segments.values() for k in seg})
    fig, ax = plt.subplots(figsize=(8, 4))
    width = 0.8 / max(len(segments), 1)
    for i, (mode, seg) in enumerate(segments.items()):
        values = [seg.get(f"{n}.ndcg_10", 0.0) for n in names]
        ax.bar(np.arange(len(names)) + i * width, values, width, label=mode)
    sizes = [int(next(iter(segments.values())).get(f"{n}.users", 0)) for n in names]
    ax.set_xticks(
        np.arange(len(names)) + width * (len(segments) - 1) / 2,
        [f"{n}\n({s} users)" for n, s in zip(names, sizes, strict=True)],
    )
    ax.set(ylabel="test NDCG@10", title="metrics by segment")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def _champion(client, name):
    from mlflow.exceptions import MlflowException

    try:
        return client.get_model_version_by_alias(name, "champion")
    except MlflowException:
        return None


def model_card(
    settings, ctx: dict, metrics: dict, champion_line: str, segments: dict | None = None
) -> str:
    rows = "\n".join(
        f"| {mode} | {m['valid_ndcg_10']:.4f} | {m['test_ndcg_10']:.4f} | "
        f"{m['test_recall_10']:.4f} |"
        for mode, m in metrics.items()
    )
    segment_table = ""
    if segments and "learned" in segments:
        names = sorted({k.split(".")[0] for k in segments["learned"]})
        head = " | ".join(f"{n} ({int(segments['learned'][f'{n}.users'])})" for n in names)
        lines = [
            f"| {mode} | " + " | ".join(f"{seg[f'{n}.ndcg_10']:.4f}" for n in names) + " |"
            for mode, seg in segments.items()
        ]
        segment_table = (
            "\nTest NDCG@10 by segment (users in brackets):\n\n"
            f"| variant | {head} |\n|---|" + "---|" * len(names) + "\n" + "\n".join(lines) + "\n"
        )
    return f"""# recfusion fusion model

- data: source `{settings.source}`, snapshot `{ctx["data_snapshot"]}`, {ctx["users"]} users,
  {ctx["items"]} items
- dbt manifest sha256: `{ctx["manifest_hash"]}`
- validation gate: {ctx["validation"]}
- text encoder: `{ctx["encoder"]}`
- promotion: {champion_line}

| variant | valid NDCG@10 | test NDCG@10 | test Recall@10 |
|---|---|---|---|
{rows}
{segment_table}"""


def log_and_register(
    settings, results: dict, pop: dict, data, ctx: dict, gate_plot, segments: dict | None = None
) -> dict:
    """Log the run, register the learned model, move aliases; return ids and the decision."""
    mlflow = setup(settings)
    from mlflow.tracking import MlflowClient

    client = MlflowClient()
    name = settings.registered_model
    learned = results["learned"]
    metrics = {
        mode: {
            **{f"valid_{k}": v for k, v in r.valid.items()},
            **{f"test_{k}": v for k, v in r.test.items()},
        }
        for mode, r in results.items()
    }
    metrics["popularity"] = pop
    with (
        mlflow.start_run(run_name=f"train-{settings.source}") as run,
        tempfile.TemporaryDirectory() as tmp,
    ):
        mlflow.log_params(flat_params(settings))
        mlflow.set_tags(
            {
                "data_snapshot": ctx["data_snapshot"],
                "source": settings.source,
                "manifest_hash": ctx["manifest_hash"],
            }
        )
        mlflow.log_dict(json.loads(settings.model_dump_json()), "settings.json")
        for mode, m in metrics.items():
            mlflow.log_metrics({f"{mode}.{k}": v for k, v in m.items()})
        mlflow.log_metrics({k: v for k, v in metrics["learned"].items()})
        for mode, r in results.items():
            for h in r.history:
                mlflow.log_metrics(
                    {
                        f"{mode}.epoch_loss": h["loss"],
                        f"{mode}.epoch_valid_ndcg_10": h["valid_ndcg_10"],
                    },
                    step=h["epoch"],
                )
        plot_training(results, Path(tmp) / "training_curves.png")
        mlflow.log_artifact(str(Path(tmp) / "training_curves.png"), "plots")
        gate_plot(Path(tmp) / "gate_vs_recency.png")
        mlflow.log_artifact(str(Path(tmp) / "gate_vs_recency.png"), "plots")
        mlflow.log_dict(metrics, "metrics.json")
        if segments:
            for mode, seg in segments.items():
                mlflow.log_metrics({f"{mode}.segment.{k}": v for k, v in seg.items()})
            plot_segments(segments, Path(tmp) / "metrics_by_segment.png")
            mlflow.log_artifact(str(Path(tmp) / "metrics_by_segment.png"), "plots")
            mlflow.log_dict(segments, "metrics_by_segment.json")
        mlflow.log_dict({"item_ids": data.item_ids}, "item_ids.json")
        example = ctx["input_example"]  # (items (2, L) int64, ages (2, L) float32)
        info = mlflow.pytorch.log_model(
            learned.model,
            name="model",
            serialization_format="pickle",
            input_example=example,
            signature=mlflow.models.infer_signature(
                {"items": example[0], "ages": example[1]},
                learned.model(*map(torch.from_numpy, example)).detach().numpy(),
            ),
            pip_requirements=["torch==2.13.0", "recfusion"],
        )
        run_id = run.info.run_id
    version = mlflow.register_model(info.model_uri, name).version
    client.set_registered_model_alias(name, "challenger", version)
    for key, value in {
        "data_snapshot": ctx["data_snapshot"],
        "items_hash": ctx["items_hash"],
        METRIC: repr(float(learned.valid["ndcg_10"])),  # full precision: compared later
        "run_id": run_id,
    }.items():
        client.set_model_version_tag(name, version, key, value)

    decision = decide_promotion(settings, client, name, version, learned, data, ctx)
    client.update_model_version(
        name,
        version,
        description=model_card(
            settings,
            ctx,
            {m: v for m, v in metrics.items() if m != "popularity"},
            decision["reason"],
            segments,
        ),
    )
    if decision["promote"]:
        client.set_registered_model_alias(name, "champion", version)
    log.info("model %s version %s: %s", name, version, decision["reason"])
    return {
        "run_id": run_id,
        "model_version": int(version),
        **decision,
        "metrics": metrics["learned"],
    }


def decide_promotion(settings, client, name, version, learned, data, ctx) -> dict:
    new = learned.valid["ndcg_10"]
    champ = _champion(client, name)
    if champ is None:
        return {
            "promote": True,
            "champion_metric": None,
            "reason": f"promoted: no champion yet (valid NDCG@10 {new:.4f})",
        }
    if champ.tags.get("data_snapshot") == ctx["data_snapshot"]:
        old = float(champ.tags[METRIC])
        how = "recorded on the same snapshot"
    elif champ.tags.get("items_hash") == ctx["items_hash"]:
        old = reevaluate(settings, name, champ.version, data)
        how = "re-evaluated on this snapshot"
    else:
        return {
            "promote": True,
            "champion_metric": None,
            "reason": f"promoted: champion v{champ.version} cannot score this catalogue",
        }
    promote = new > old + settings.promote_margin
    verdict = "promoted" if promote else "kept champion"
    return {
        "promote": promote,
        "champion_metric": old,
        "reason": f"{verdict}: valid NDCG@10 {new:.4f} vs champion v{champ.version} "
        f"{old:.4f} ({how}, margin {settings.promote_margin})",
    }


def reevaluate(settings, name, version, data) -> float:
    import mlflow

    from recfusion.model.data import evaluation_batch
    from recfusion.model.train import device_for, evaluate

    model = mlflow.pytorch.load_model(f"models:/{name}/{version}", map_location="cpu")
    batch = evaluation_batch(data, "valid", settings.train.max_history)
    metrics, _ = evaluate(model, batch, device_for(settings.embed.device))
    return metrics["ndcg_10"]


def load_champion(settings):
    """Return (model, version) of the current champion."""
    mlflow = setup(settings)
    from mlflow.tracking import MlflowClient

    champ = _champion(MlflowClient(), settings.registered_model)
    if champ is None:
        raise LookupError(f"registered model '{settings.registered_model}' has no champion")
    model = mlflow.pytorch.load_model(
        f"models:/{settings.registered_model}@champion", map_location="cpu"
    )
    return model, champ


def list_versions(settings) -> list[dict]:
    """Every registered version with its aliases, validation metric and review tag."""
    setup(settings)
    from mlflow.tracking import MlflowClient

    client = MlflowClient()
    rows = []
    name = names.model_name(settings.registered_model)  # goes into a filter string
    for found in client.search_model_versions(f"name='{name}'"):
        # search results carry no aliases: read each version whole
        mv = client.get_model_version(settings.registered_model, found.version)
        rows.append(
            {
                "version": int(mv.version),
                "aliases": sorted(mv.aliases),
                METRIC: mv.tags.get(METRIC),
                "review": mv.tags.get("review", ""),
                "data_snapshot": mv.tags.get("data_snapshot"),
            }
        )
    return sorted(rows, key=lambda r: r["version"])


def review(settings, version: int, approve: bool, reviewer: str) -> dict:
    """An operator's decision: approve makes ``version`` champion; reject drops its alias."""
    setup(settings)
    from mlflow.tracking import MlflowClient

    client = MlflowClient()
    name = settings.registered_model
    mv = client.get_model_version(name, str(version))  # raises when the version is unknown
    client.set_model_version_tag(
        name, mv.version, "review", f"{'approved' if approve else 'rejected'} by {reviewer}"
    )
    if approve:
        client.set_registered_model_alias(name, "champion", mv.version)
    elif "challenger" in mv.aliases:
        client.delete_registered_model_alias(name, "challenger")
    log.info("%s v%s %s by %s", name, version, "approved" if approve else "rejected", reviewer)
    return {"version": int(mv.version), "approved": approve}
