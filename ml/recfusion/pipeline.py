"""The stages of a run as plain functions; the Airflow DAG and the CLI call these.

Each stage reads named tables, writes named tables and returns a small summary. Rerunning
a stage replaces what an earlier attempt wrote.
"""

from __future__ import annotations

import logging
import time

from recfusion.settings import Settings

log = logging.getLogger(__name__)


def ingest(settings: Settings) -> dict:
    from recfusion.load import land
    from recfusion.sources import load_source

    settings.ensure_dirs()
    return land(settings, load_source(settings.source, settings.path, settings))


def transform(settings: Settings) -> dict:
    from recfusion import transform as dbt

    return dbt.build(settings)


def validate_marts(settings: Settings) -> dict:
    from recfusion import validate

    return validate.validate_marts(settings)


def embed(settings: Settings) -> dict:
    from recfusion.embed import embed_items

    return embed_items(settings)


def train(settings: Settings) -> dict:
    from recfusion.model.job import train_and_register

    return train_and_register(settings)


def score(settings: Settings) -> dict:
    from recfusion.publish import score as score_users

    return score_users(settings)


def validate_recommendations(settings: Settings) -> dict:
    from recfusion import validate

    return validate.validate_recommendations(settings)


def publish(settings: Settings) -> dict:
    from recfusion.publish import publish as publish_snapshot

    return publish_snapshot(settings)


STAGES = [ingest, transform, validate_marts, embed, train, score, validate_recommendations, publish]


def run_all(settings: Settings, start_at: str | None = None) -> dict:
    """Run every stage in order (from ``start_at`` if given); the first failure stops the run."""
    names = [stage.__name__ for stage in STAGES]
    if start_at is not None and start_at not in names:
        raise ValueError(f"unknown stage '{start_at}', expected one of {names}")
    summaries = {}
    for stage in STAGES[names.index(start_at) if start_at else 0 :]:
        start = time.perf_counter()
        log.info("stage %s: start", stage.__name__)
        summaries[stage.__name__] = stage(settings)
        log.info("stage %s: done in %.1fs", stage.__name__, time.perf_counter() - start)
    return summaries
