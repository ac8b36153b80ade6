"""Values from settings and run parameters that reach SQL or filter strings are checked."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from recfusion import names
from recfusion.settings import Settings
from recfusion.transform import checked_vars, dbt_args

INJECTIONS = [
    "x'; drop table raw.events; --",
    "recfusion fusion",
    "model' or name like '%",
    "../../etc/passwd",
    "",
    "-leading-dash",
]


@pytest.mark.parametrize("bad", INJECTIONS)
def test_registered_model_rejects_anything_but_a_plain_name(tmp_path, bad):
    with pytest.raises(ValidationError) as err:
        Settings(home=tmp_path, registered_model=bad)
    message = str(err.value)
    assert "registered_model (RECFUSION_REGISTERED_MODEL)" in message
    assert repr(bad) in message


def test_registered_model_from_the_environment_is_checked_too(tmp_path, monkeypatch):
    monkeypatch.setenv("RECFUSION_REGISTERED_MODEL", "a'b")
    with pytest.raises(ValidationError, match="RECFUSION_REGISTERED_MODEL"):
        Settings(home=tmp_path)
    monkeypatch.setenv("RECFUSION_REGISTERED_MODEL", "recfusion-fusion.v2_test")
    assert Settings(home=tmp_path).registered_model == "recfusion-fusion.v2_test"


@pytest.mark.parametrize(
    "bad",
    [
        "2025-03-01' as timestamp) or 1=1 --",
        "2025-13-01",
        "2025-02-30",
        "yesterday",
        "2025-03-01;",
        "2025-03-01T25:00",
    ],
)
def test_as_of_must_be_a_real_iso_date_or_time(tmp_path, bad):
    with pytest.raises(ValidationError) as err:
        Settings(home=tmp_path, as_of=bad)
    assert "as_of (RECFUSION_AS_OF)" in str(err.value) and repr(bad) in str(err.value)


@pytest.mark.parametrize("good", ["2025-03-01", "2025-03-01T12:30", "2025-03-01 12:30:00.25"])
def test_as_of_accepts_dates_and_timestamps(tmp_path, good):
    assert Settings(home=tmp_path, as_of=good).as_of == good


def test_airflow_params_go_through_the_same_check(tmp_path, monkeypatch):
    from recfusion.orchestration import settings_from

    monkeypatch.setenv("RECFUSION_HOME", str(tmp_path))
    assert settings_from({"as_of": "2025-04-01"}).as_of == "2025-04-01"
    with pytest.raises(ValidationError, match="as_of"):
        settings_from({"as_of": "2025-04-01'); select 1; --"})


def test_dbt_backfill_dates_are_checked_before_dbt_runs(tmp_path):
    settings = Settings(home=tmp_path)
    args = dbt_args(settings, "build", dbt_vars={"backfill_start": "2025-03-01"})
    assert '"backfill_start": "2025-03-01"' in args[args.index("--vars") + 1]
    with pytest.raises(names.UnsafeName, match=r"dbt var backfill_end: \"2025-03-07' or '1\""):
        dbt_args(settings, "build", dbt_vars={"backfill_end": "2025-03-07' or '1"})
    with pytest.raises(names.UnsafeName, match="dbt var as_of"):
        checked_vars({"as_of": "now()"})
    # numbers from the interest settings pass through untouched
    assert checked_vars({"short_term_n": 10}) == {"short_term_n": 10}


def test_identifier_check():
    assert names.identifier("events", "raw table") == "events"
    for bad in ["events; drop", "raw.events", "1st", 'e"x', ""]:
        with pytest.raises(names.UnsafeName, match="raw table"):
            names.identifier(bad, "raw table")
