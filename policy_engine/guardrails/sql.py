"""SQL text for the families' relational forms and the columnar plan: literals, dates, counted words."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from decimal import Decimal

__all__ = ["counted", "date_literal", "days_after", "days_before", "days_between", "iso_day", "name", "number", "text",
           "text_list"]


def text(value: str) -> str:
    """A string literal."""
    return "'" + value.replace("'", "''") + "'"


def name(identifier: str) -> str:
    """A quoted identifier."""
    return '"' + identifier.replace('"', '""') + '"'


def number(value: int | float | Decimal) -> str:
    """A numeric literal: integers as written, other numbers as exact decimals."""
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, int):
        return str(value)
    exact = Decimal(str(value)) if isinstance(value, float) else value
    return format(exact, "f")


def text_list(values: Iterable[str]) -> str:
    """``('a', 'b')`` for an IN list (never empty: callers check)."""
    return "(" + ", ".join(text(value) for value in values) + ")"


def date_literal(day: date) -> str:
    """A DATE literal."""
    return f"DATE {text(day.isoformat())}"


def days_before(day_sql: str, days: int) -> str:
    """The date ``days`` days before ``day_sql`` (a DATE)."""
    return f"CAST({day_sql} - INTERVAL {int(days)} DAY AS DATE)" if days else day_sql


def days_after(day_sql: str, days: int) -> str:
    """The date ``days`` days after ``day_sql`` (a DATE)."""
    return f"CAST({day_sql} + INTERVAL {int(days)} DAY AS DATE)" if days else day_sql


def days_between(start_sql: str, end_sql: str) -> str:
    """Whole days from ``start_sql`` to ``end_sql`` (both DATE)."""
    return f"DATE_DIFF('day', {start_sql}, {end_sql})"


def iso_day(day_sql: str) -> str:
    """A DATE as ``YYYY-MM-DD`` text."""
    return f"STRFTIME({day_sql}, '%Y-%m-%d')"


def counted(count_sql: str, word: str, plural: str | None = None) -> str:
    """``1 day`` / ``2 days`` as SQL text (as :func:`policy_engine.guardrails.base.counted`)."""
    return (f"(CAST({count_sql} AS VARCHAR) || CASE WHEN {count_sql} = 1 THEN {text(' ' + word)} "
            f"ELSE {text(' ' + (plural or word + 's'))} END)")
