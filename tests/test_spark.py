"""The dbt models on a local Apache Spark give the same marts as on DuckDB.

Real dbt runs: ``dbt build --full-refresh`` (models, data tests, unit tests) on DuckDB with
this venv's dbt and on Spark with the dbt of ``.venv-spark`` (dbt-spark's session method),
from the same generated raw tables, with recommendation feedback and a publication so
that every mart has rows; then every mart is compared row for row. Then two more loads
and an incremental ``dbt run`` on both, compared again. Needs ``.venv-spark``
(``make spark-venv``) and Java; ``make spark-test`` runs it.
"""

from __future__ import annotations

import duckdb
import pandas as pd
import pytest

from benchmarks.generate_events import append_events, write_events
from recfusion import spark
from tests.conftest import small_settings


@pytest.fixture
def _needs_spark():
    why_not = spark.missing_requirements()
    if why_not:
        pytest.skip(why_not)


def test_comparison_tells_equal_from_different():
    """The comparison itself: row order and integer widths do not matter, values do."""
    duck = pd.DataFrame(
        {
            "user_id": ["a", "b"],
            "n": pd.array([1, 2], dtype="int64"),
            "share": [0.25, 1 / 3],
            "items": [["x", "y"], ["z"]],
            "staged_at": pd.to_datetime(["2025-01-01", "2025-01-02"]),
        }
    )
    other = duck.iloc[::-1].reset_index(drop=True)
    other["n"] = other["n"].astype("int32")
    other["share"] = other["share"] * (1 + 1e-12)
    other["staged_at"] = pd.Timestamp("2030-01-01")  # bookkeeping: left out
    assert spark.compare_frames("t", duck, other).equal

    for column, value in (("share", 0.25 * (1 + 1e-6)), ("user_id", "c"), ("items", ["y", "x"])):
        changed = duck.copy()
        changed.at[0, column] = value
        result = spark.compare_frames("t", duck, changed)
        assert not result.equal and column in result.note
    assert not spark.compare_frames("t", duck, duck.iloc[:1]).equal


@pytest.mark.spark
@pytest.mark.slow
@pytest.mark.usefixtures("_needs_spark")
def test_marts_on_spark_equal_marts_on_duckdb(tmp_path):
    settings = small_settings(tmp_path / "home")
    settings.home.mkdir(parents=True)
    with duckdb.connect(str(settings.warehouse)) as con:
        write_events(con, 10_000, days=5)  # replays, unknown items, feedback on two runs
        # run-2's feedback names only the run: its version comes from the publications
        con.execute("update raw.events set model_version = null where rec_run_id = 'run-2'")
        con.execute("""
            create table main.recommendation_runs as
            select 1 as version, 'publish' as action, 2 as model_version, 'run-2' as run_id,
                   timestamp '2025-01-01' as published_at""")

    _assert_all_equal(spark.parity(settings))

    # Incremental runs (dbt run) after two more loads: the next day, and late events over
    # the earlier days. DuckDB replaces the changed days by delete+insert, Spark overwrites
    # their partitions; the marts must still agree.
    with duckdb.connect(str(settings.warehouse)) as con:
        append_events(con, 10_000, 10_000, 300, 5, 1, "load-1")
        append_events(con, 10_000, 10_300, 200, 1, 3, "load-2")
    _assert_all_equal(spark.parity(settings, command="run", full_refresh=False))


def _assert_all_equal(result: dict) -> None:
    tables = {t.name: t for t in result["tables"]}
    assert set(tables) == {
        "dim_items",
        "fct_recommendation_ctr_daily",
        "fct_training_examples",
        "fct_user_item_splits",
        "user_long_term_interests",
        "user_long_term_item_interests",
        "user_short_term_category_mix",
        "user_short_term_interests",
    }
    for t in tables.values():
        assert t.rows_duckdb > 0, f"{t.name} is empty: the comparison would prove nothing"
        assert t.equal, f"{t.name}: {t.note} ({t.rows_duckdb} vs {t.rows_spark} rows)"
