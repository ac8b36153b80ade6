"""Shared fixtures: small generated data and one whole pipeline run shared by many tests."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from recfusion.settings import Settings

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


def small_settings(home: Path, **overrides) -> Settings:
    """A run small enough for tests: 60 users, 6 categories, 2 epochs, 2 variants."""
    base = {
        "home": home,
        "synthetic": {
            "n_users": 60,
            "n_categories": 6,
            "items_per_category": 12,
            "events_per_user": 20,
            "short_term_events": 6,
            "seed": 3,
        },
        "train": {
            "hidden": 16,
            "epochs": 2,
            "patience": 1,
            "batch_size": 128,
            "variants": ["learned", "alpha"],
        },
        "top_k": 5,
    }
    base.update(overrides)
    return Settings(**base)


@pytest.fixture(scope="session")
def pipeline_run(tmp_path_factory):
    """One whole run on the small generated data: (settings, stage summaries)."""
    from recfusion import pipeline

    logging.getLogger("great_expectations").setLevel(logging.WARNING)
    settings = small_settings(tmp_path_factory.mktemp("run") / "home")
    return settings, pipeline.run_all(settings)


def need_shared(name: str) -> Path:
    path = SHARED_DATA / name
    if not path.exists():
        pytest.skip(f"{path} is absent: the real data sets live in ../shared/data beside the repo")
    return path
