"""One whole run on small generated data, then each stage's output checked for real."""

from __future__ import annotations

import json
import math

import duckdb
import numpy as np
import pandas as pd
import pytest

from recfusion import pipeline
from recfusion.publish import read_published
from tests.conftest import small_settings


def query(settings, sql):
    con = duckdb.connect(str(settings.warehouse), read_only=True)
    try:
        return con.execute(sql).df()
    finally:
        con.close()


def test_landing_and_staging_conserve_every_row(pipeline_run):
    settings, summaries = pipeline_run
    ingest = summaries["ingest"]
    assert ingest["raw_events"] == ingest["landed_events"] + ingest["quarantined_events"]
    assert ingest["quarantined_events"] > 0  # the generator breaks a few rows on purpose
    counts = query(
        settings,
        """
        select (select count(*) from raw.events) as landed,
               (select count(*) from staging.stg_landing__events) as clean,
               (select count(*) from staging.stg_landing__events_quarantine) as set_aside,
               (select count(*) from raw.quarantine where entity = 'events') as unparsed
    """,
    ).iloc[0]
    assert counts["landed"] == counts["clean"] + counts["set_aside"]
    reasons = set(
        query(settings, "select reason from staging.stg_landing__events_quarantine")["reason"]
    )
    assert {"duplicate_event_id", "unknown_item"} <= reasons
    assert counts["unparsed"] == ingest["quarantined_events"]


def test_dbt_build_ran_models_and_tests(pipeline_run):
    _, summaries = pipeline_run
    statuses = summaries["transform"]["statuses"]
    assert statuses.get("success", 0) >= 8 and statuses.get("pass", 0) >= 20
    assert "fail" not in statuses and "error" not in statuses


def test_split_is_leave_one_out(pipeline_run):
    settings, _ = pipeline_run
    splits = query(settings, "select * from marts.fct_user_item_splits")
    per_user = splits.groupby("user_id")
    for _user, rows in per_user:
        rows = rows.sort_values("seq_pos")
        if len(rows) >= 3:
            assert rows["split"].tolist()[-2:] == ["valid", "test"]
            assert (rows["split"].iloc[:-2] == "train").all()
        assert rows["seq_pos"].tolist() == list(range(1, len(rows) + 1))


def test_long_term_affinity_matches_the_decay_formula(pipeline_run):
    settings, _ = pipeline_run
    events = query(
        settings,
        """
        select e.user_id, i.category, e.event_type, e.rating, e.event_ts
        from staging.stg_landing__events e join staging.stg_landing__items i using (item_id)
    """,
    )
    as_of = query(settings, "select max(event_ts) as t from staging.stg_landing__events")["t"][0]
    user = events["user_id"].iloc[0]
    mine = events[events["user_id"] == user]
    age = (as_of - mine["event_ts"]).dt.total_seconds() / 86400  # as of the latest event
    weights = {"view": 1.0, "cart": 2.0, "purchase": 3.0, "search": 0.0}
    w = [
        weights.get(t, 0.0) if t != "rating" else r / 5 * 3
        for t, r in zip(mine["event_type"], mine["rating"], strict=True)
    ]
    half_life = settings.interests.half_life_days
    expected = (
        (pd.Series(w, index=mine.index) * np.exp(-math.log(2) * age / half_life))
        .groupby(mine["category"])
        .sum()
    )
    mart = query(
        settings,
        f"select category, affinity from marts.user_long_term_interests where user_id = '{user}'",
    ).set_index("category")["affinity"]
    pd.testing.assert_series_equal(
        mart.sort_index(), expected.sort_index(), check_names=False, rtol=1e-6
    )


def test_short_term_window_holds_the_last_n_items(pipeline_run):
    settings, _ = pipeline_run
    short = query(settings, "select * from marts.user_short_term_interests")
    assert short["recent_items"].map(len).max() <= settings.interests.short_term_n
    assert short["top_category_share"].between(0, 1).all()


def test_embeddings_are_cached(pipeline_run):
    settings, summaries = pipeline_run
    assert summaries["embed"]["embedded"] == summaries["embed"]["items"] > 0
    again = pipeline.embed(settings)
    assert again["embedded"] == 0 and again["cached"] == again["items"]
    vectors = query(settings, "select vector from ml.item_vectors")["vector"]
    norms = np.linalg.norm(np.stack(vectors.to_numpy()), axis=1)
    assert np.allclose(norms, 1.0, atol=1e-4)  # MiniLM's own config normalises


def test_training_logs_metrics_and_registers_a_champion(pipeline_run):
    import mlflow
    from mlflow.tracking import MlflowClient

    settings, summaries = pipeline_run
    train = summaries["train"]
    assert train["promote"] and train["model_version"] == 1
    mlflow.set_tracking_uri(settings.tracking_uri)
    client = MlflowClient()
    champ = client.get_model_version_by_alias(settings.registered_model, "champion")
    assert int(champ.version) == 1 and "valid NDCG@10" in champ.description
    run = client.get_run(train["run_id"])
    for key in ("test_ndcg_10", "test_recall_10", "alpha.test_ndcg_10", "popularity.test_ndcg_10"):
        assert key in run.data.metrics
    assert 0 <= run.data.metrics["test_recall_10"] <= 1
    artifacts = {a.path for a in client.list_artifacts(train["run_id"], "plots")}
    assert {
        "plots/training_curves.png",
        "plots/gate_vs_recency.png",
        "plots/metrics_by_segment.png",
    } <= artifacts


FIT_AND_HASH = """
import hashlib, sys
from pathlib import Path
from recfusion.model.data import read_interactions
from recfusion.model.train import fit
from recfusion.warehouse import connect
from tests.conftest import small_settings
settings = small_settings(Path(sys.argv[1]))
with connect(settings.warehouse, read_only=True) as con:
    data = read_interactions(con)
digest = hashlib.sha256()
for value in fit(data, settings, "learned").model.state_dict().values():
    digest.update(value.numpy().tobytes())
print(digest.hexdigest())
"""


def test_training_is_bit_for_bit_repeatable_across_processes(pipeline_run):
    """Two processes, two CPU threads each, same data and seed: the same weights. A rerun
    after a crash must publish what the uninterrupted run would have."""
    import os
    import subprocess
    import sys

    settings, _ = pipeline_run
    env = {**os.environ, "OMP_NUM_THREADS": "2"}
    digests = {
        subprocess.run(
            [sys.executable, "-c", FIT_AND_HASH, str(settings.home)],
            capture_output=True,
            text=True,
            check=True,
            env=env,
        ).stdout.split()[-1]
        for _ in range(2)
    }
    assert len(digests) == 1


def test_retraining_on_the_same_data_does_not_move_the_champion(pipeline_run):
    from mlflow.tracking import MlflowClient

    settings, summaries = pipeline_run
    again = pipeline.train(settings)
    assert again["model_version"] == summaries["train"]["model_version"] + 1
    assert not again["promote"] and "kept champion" in again["reason"]
    client = MlflowClient()
    name = settings.registered_model
    assert int(client.get_model_version_by_alias(name, "champion").version) == 1
    assert int(client.get_model_version_by_alias(name, "challenger").version) == 2


def test_published_recommendations_are_complete_and_valid(pipeline_run):
    settings, summaries = pipeline_run
    pub = summaries["publish"]
    frame = read_published(settings)
    assert len(frame) == pub["rows"] == pub["users"] * settings.top_k
    assert list(frame.columns) == [
        "user_id",
        "rank",
        "item_id",
        "score",
        "reason",
        "model_version",
        "run_id",
        "published_at",
    ]
    seen = query(settings, "select user_id, item_id from marts.fct_user_item_splits")
    clash = frame.merge(seen, on=["user_id", "item_id"])
    assert clash.empty
    for _user, rows in frame.groupby("user_id"):
        assert rows["rank"].tolist() == list(range(1, settings.top_k + 1))
        assert rows["score"].is_monotonic_decreasing
    table = query(settings, "select * from main.recommendations")
    assert len(table) == len(frame)
    pointer = json.loads((settings.published_dir / "CURRENT.json").read_text())
    assert pointer["version"] == pub["version"]


def test_unchanged_recommendations_publish_nothing(pipeline_run):
    settings, summaries = pipeline_run
    again = pipeline.publish(settings)
    assert not again["published"] and again["version"] == summaries["publish"]["version"]


def test_recommend_command_prints_items_with_reasons(pipeline_run, capsys):
    from recfusion.cli import main

    settings, _ = pipeline_run
    user = read_published(settings)["user_id"].iloc[0]
    assert main(["--home", str(settings.home), "recommend", user, "-n", "3"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 3 and all(("interest" in ln) or ("'" in ln) for ln in lines)


def test_a_broken_mart_stops_the_run_before_publishing(tmp_path):
    from recfusion.validate import ValidationFailed

    settings = small_settings(tmp_path / "home")
    pipeline.run_all(settings)
    before = (settings.published_dir / "CURRENT.json").read_text()
    published = read_published(settings)
    # break the items mart: a duplicated key that dbt's own tests would have caught
    con = duckdb.connect(str(settings.warehouse))
    con.execute("insert into marts.dim_items select * from marts.dim_items limit 3")
    con.close()
    expected = r"suite 'dim_items'(.|\n)*to_be_unique\(item_id\): 6 of 75 values"
    with pytest.raises(ValidationFailed, match=expected):
        pipeline.run_all(settings, start_at="validate_marts")
    assert (settings.published_dir / "CURRENT.json").read_text() == before
    pd.testing.assert_frame_equal(read_published(settings), published)


def test_operator_can_reject_and_promote_a_version(pipeline_run, capsys):
    from mlflow.tracking import MlflowClient

    from recfusion.cli import main

    settings, _ = pipeline_run
    version = pipeline.train(settings)["model_version"]
    home = ["--home", str(settings.home)]
    assert main([*home, "reject", str(version), "--reviewer", "ops"]) == 0
    client = MlflowClient()
    mv = client.get_model_version(settings.registered_model, str(version))
    assert "challenger" not in mv.aliases and mv.tags["review"] == "rejected by ops"
    assert main([*home, "promote", str(version), "--reviewer", "ops"]) == 0
    champ = client.get_model_version_by_alias(settings.registered_model, "champion")
    assert int(champ.version) == version
    capsys.readouterr()
    assert main([*home, "models"]) == 0
    listing = capsys.readouterr().out
    assert f"v{version}" in listing and "champion" in listing and "approved by ops" in listing


def test_the_cli_knows_every_stage_by_name():
    from recfusion import cli, pipeline

    assert [stage.__name__ for stage in pipeline.STAGES] == cli.STAGE_NAMES
