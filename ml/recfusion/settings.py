"""The one typed settings object, read from the environment (``RECFUSION_*``) and a file.

Every stage takes a ``Settings``; the whole object is logged to MLflow with each run.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from recfusion import names

REPO_ROOT = Path(__file__).resolve().parents[2]
Source = Literal["synthetic", "movielens", "beauty", "files"]


class SyntheticSettings(BaseModel):
    """Size and shape of the generated data set."""

    n_users: int = Field(400, ge=3)
    n_categories: int = Field(12, ge=2)
    items_per_category: int = Field(30, ge=3)
    events_per_user: int = Field(40, ge=5)
    short_term_events: int = Field(8, ge=2)  # events in the final, shifted session
    bad_row_rate: float = Field(0.003, ge=0, le=0.5)  # rows deliberately broken
    seed: int = 7


class InterestSettings(BaseModel):
    """Variables handed to dbt for the long- and short-term interest models."""

    short_term_n: int = Field(10, ge=1)  # last N events form the short-term profile
    half_life_days: float = Field(30.0, gt=0)  # long-term decay
    alpha_k: float = Field(0.1, gt=0)  # k in alpha(t) = 1 / (1 + exp(-k t)), t in days
    session_gap_minutes: int = Field(30, ge=1)


class EmbedSettings(BaseModel):
    """The text encoder: a Hugging Face id or a local folder; empty means the packaged MiniLM."""

    model: str = ""
    batch_size: int = Field(64, ge=1)
    max_length: int = Field(128, ge=8)
    device: Literal["auto", "cpu", "cuda"] = "auto"
    # processes that embed in parallel, one per GPU when several (cuda:0, cuda:1, ...);
    # 1 embeds in the calling process
    workers: int = Field(1, ge=1, le=64)


class TrainSettings(BaseModel):
    """The fusion model and its training loop."""

    hidden: int = Field(64, ge=4)
    max_history: int = Field(50, ge=2)
    short_n: int = Field(10, ge=1)
    use_id_embedding: bool = True
    dropout: float = Field(0.2, ge=0, lt=1)
    epochs: int = Field(20, ge=1)
    patience: int = Field(3, ge=1)
    batch_size: int = Field(256, ge=1)
    lr: float = Field(2e-3, gt=0)
    weight_decay: float = Field(1e-5, ge=0)
    seed: int = 0
    # full-catalogue softmax up to this many items, sampled softmax above it
    full_softmax_max_items: int = Field(50_000, ge=1)
    negatives: int = Field(2048, ge=1)  # sampled negatives per batch
    sasrec_blocks: int = Field(2, ge=1)  # self-attention blocks of the SASRec baseline
    # torch threads for training; 0 keeps torch's default (one per core). On a shared,
    # busy machine 1 is much faster: idle-spinning threads fight for the cores.
    threads: int = Field(0, ge=0)
    # variants trained and compared in one run; "learned" is the one registered
    variants: list[str] = ["learned", "alpha", "long", "short"]

    @field_validator("variants")
    @classmethod
    def _has_learned(cls, value: list[str]) -> list[str]:
        allowed = {"learned", "alpha", "long", "short", "sasrec"}
        unknown = [v for v in value if v not in allowed]
        if unknown or "learned" not in value:
            raise ValueError(f"variants {value}: need 'learned', others from {sorted(allowed)}")
        return value


class Settings(BaseSettings):
    """Everything a run needs. Nested fields read from e.g. ``RECFUSION_TRAIN__EPOCHS``."""

    model_config = SettingsConfigDict(
        env_prefix="RECFUSION_",
        env_nested_delimiter="__",
        env_file=os.environ.get("RECFUSION_ENV_FILE", ".env"),
        extra="ignore",
    )

    home: Path = REPO_ROOT / ".recfusion"
    source: Source = "synthetic"
    path: Path | None = None
    as_of: str | None = None  # ISO date; the interest marts look at events up to it
    top_k: int = Field(10, ge=1)
    registered_model: str = "recfusion-fusion"
    promote_margin: float = Field(0.0, ge=0)
    mlflow_tracking_uri: str = ""
    max_quarantine_rate: float = Field(0.05, ge=0, le=1)
    # the dbt target (dbt_project/profiles.yml): duckdb, or spark (a local pyspark) or
    # spark_cluster (a Spark Thrift server or Databricks), which build the models there
    dbt_target: str = "duckdb"
    # the dbt to run; empty: the one beside this Python. The Spark targets need dbt-spark,
    # which lives in its own venv (`make spark-venv`): .venv-spark/bin/dbt
    dbt_executable: str = ""
    synthetic: SyntheticSettings = SyntheticSettings()
    interests: InterestSettings = InterestSettings()
    embed: EmbedSettings = EmbedSettings()
    train: TrainSettings = TrainSettings()

    @field_validator("home")
    @classmethod
    def _absolute_home(cls, value: Path) -> Path:
        return value.expanduser().resolve()

    # both reach SQL or an MLflow filter string as text, so only a strict form is accepted
    @field_validator("registered_model")
    @classmethod
    def _safe_model_name(cls, value: str) -> str:
        return names.model_name(value, "registered_model (RECFUSION_REGISTERED_MODEL)")

    @field_validator("as_of")
    @classmethod
    def _iso_as_of(cls, value: str | None) -> str | None:
        return None if value is None else names.moment(value, "as_of (RECFUSION_AS_OF)")

    @property
    def warehouse(self) -> Path:
        return self.home / "warehouse.duckdb"

    @property
    def spark_dir(self) -> Path:
        """A local Spark's warehouse, metastore and the raw tables exported for it."""
        return self.home / "spark"

    @property
    def published_dir(self) -> Path:
        return self.home / "published"

    @property
    def data_docs_dir(self) -> Path:
        return self.home / "data_docs"

    @property
    def tracking_uri(self) -> str:
        if self.mlflow_tracking_uri:
            return self.mlflow_tracking_uri
        return f"sqlite:///{self.home / 'mlflow' / 'mlflow.db'}"

    @property
    def artifact_root(self) -> Path:
        return self.home / "mlflow" / "artifacts"

    def ensure_dirs(self) -> None:
        for folder in (self.home, self.published_dir, self.artifact_root):
            folder.mkdir(parents=True, exist_ok=True)

    def dbt_vars(self) -> dict[str, float | int | str]:
        values = self.interests.model_dump()
        if self.as_of:
            values["as_of"] = self.as_of
        return values
