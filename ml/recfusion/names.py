"""Strict checks for the values that settings and run parameters put into SQL or names.

Data values always travel as bound parameters. A few values cannot: the registered model
name goes into an MLflow filter string and a ``models:/`` URI, and the as-of and backfill
dates are written into the SQL that dbt compiles. Each is checked here against a pattern
that leaves no room for quotes, separators or comments, and a bad value is refused with
its name and the form expected.
"""

from __future__ import annotations

import re
from datetime import date, datetime

# MLflow registered model: letters, digits, then also . _ - (no quotes, spaces or slashes)
MODEL_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")
# SQL identifier (schema, table, column) as recfusion names them
IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,62}")
# ISO date, optionally with a time: 2025-03-01, 2025-03-01T12:00, 2025-03-01 12:00:00.5
ISO_MOMENT = re.compile(r"\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d{1,6})?)?)?")
ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


class UnsafeName(ValueError):
    """A value that would reach SQL, a filter string or a path has an unexpected form."""


def _check(pattern: re.Pattern, value: object, setting: str, expected: str) -> str:
    if not isinstance(value, str) or not pattern.fullmatch(value):
        raise UnsafeName(f"{setting}: {value!r} is not {expected}")
    return value


def model_name(value: object, setting: str = "registered_model") -> str:
    return _check(
        MODEL_NAME, value, setting, "a model name (letters, digits, '.', '_', '-'; at most 100)"
    )


def identifier(value: object, setting: str) -> str:
    return _check(IDENTIFIER, value, setting, "a SQL identifier ([A-Za-z_][A-Za-z0-9_]*)")


def moment(value: object, setting: str = "as_of") -> str:
    """An ISO date or date and time, e.g. 2025-03-01 or 2025-03-01T12:00:00."""
    text = _check(ISO_MOMENT, value, setting, "an ISO date or timestamp (2025-03-01[T12:00:00])")
    try:
        datetime.fromisoformat(text)
    except ValueError:
        raise UnsafeName(f"{setting}: {value!r} is not a real date or time") from None
    return text


def day(value: object, setting: str) -> str:
    text = _check(ISO_DATE, value, setting, "an ISO date (2025-03-01)")
    try:
        date.fromisoformat(text)
    except ValueError:
        raise UnsafeName(f"{setting}: {value!r} is not a real date") from None
    return text
