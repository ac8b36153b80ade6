"""Event and item sources. Each returns raw frames in the landing contract.

Landing contract (all columns read as text; the landing step parses and checks them):

events: ``event_id, user_id, item_id, event_type, event_ts, rating, query[, rec_run_id,
model_version], source_loc``
items:  ``item_id, title, description, category, source_loc``

``impression`` and ``click`` events are feedback on published recommendations: they name
the item shown or clicked and, in ``rec_run_id`` and ``model_version``, the run and model
version that recommended it (the ``run_id`` and ``model_version`` of the published rows).
Sources without feedback leave both columns out.

``event_ts`` is an ISO-8601 timestamp (UTC when no offset is given) or Unix seconds;
``source_loc`` names the file and line each row came from, for error messages.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

EVENT_COLUMNS = ["event_id", "user_id", "item_id", "event_type", "event_ts", "rating", "query"]
FEEDBACK_COLUMNS = ["rec_run_id", "model_version"]  # optional: absent means empty
ITEM_COLUMNS = ["item_id", "title", "description", "category"]
EVENT_TYPES = ("view", "cart", "purchase", "search", "rating", "impression", "click")


class SourceError(ValueError):
    """A whole-file problem: the load stops and names the file, line and column."""


@dataclass
class RawData:
    events: pd.DataFrame
    items: pd.DataFrame
    name: str
    numeric_ids: bool = False  # the source's user and item ids are integers


def load_source(source: str, path, settings) -> RawData:
    """Dispatch on the source name; ``path`` is a folder or file for the real data sets."""
    from recfusion.sources import beauty, files, movielens, synthetic

    if source == "synthetic":
        folder = synthetic.write(settings.home / "sources" / "synthetic", settings.synthetic)
        return files.load(folder, name="synthetic")
    if path is None:
        raise SourceError(f"source '{source}' needs --path")
    loaders = {"movielens": movielens.load, "beauty": beauty.load, "files": files.load}
    if source not in loaders:
        raise SourceError(
            f"unknown source '{source}', expected one of synthetic, {', '.join(loaders)}"
        )
    return loaders[source](path)
