"""The two input relations of the columnar plan, ``accounts`` and ``history``: their columns and types.

This is the contract between whatever produces the relations (:mod:`.load` from validated records, or a
native reader) and the plan, which reads nothing else. Every value in them is already valid (the record
rules of :mod:`policy_engine.data.records` hold); rejected rows never reach a relation.

Conventions:

* ``position`` is the row's place in its input (0, 1, 2, ... over every file read, in order): accounts
  are decided and written in this order, and history events with the same instant keep it.
* Money is ``DECIMAL(38, 18)``: every valid amount (at most 10^18) fits with 18 decimals (finer digits
  are rounded to 18 places). A history
  event's amount is also kept as written (``amount_text``: ``str()`` of the exact decimal, so ``1500.00``
  stays ``1500.00``), since suppression details quote it.
* Instants are ``TIMESTAMP`` in UTC (microseconds, no zone); the offset the input wrote, which the
  idempotency key of an escalation quotes, is kept in ``at_offset_seconds``.
* Nested groups are flattened: ``contact.phone`` -> ``contact_phone``, ``flags.dispute`` ->
  ``flags_dispute``; an empty contact point is NULL. A flag is never NULL (absent is false).
* Consent per channel is a JSON object text ``consent`` of the channels the record gives a true/false
  for (``{"email":true,"sms":false}``, keys sorted); unknown consent is left out.
* ``attributes`` is the attribute object as JSON text (keys sorted, numbers as JSON numbers, NaN and
  infinities as the JSON extensions ``NaN``/``Infinity``/``-Infinity``), ``{}`` when there are none.
* ``timezones`` is the sorted, de-duplicated list of candidate zones (empty list when none).
* ``preferred_start`` / ``preferred_end`` are the preferred hours as microseconds after local midnight
  (end 0 means midnight at the end of the day), both NULL when the record states none.
"""

from __future__ import annotations

from typing import Final

__all__ = ["ACCOUNT_COLUMNS", "FLAG_NAMES", "HISTORY_COLUMNS", "MONEY", "create_statement"]

MONEY: Final = "DECIMAL(38, 18)"
"""The SQL type of every amount of money."""

ACCOUNT_COLUMNS: Final[tuple[tuple[str, str], ...]] = (
    ("position", "BIGINT"),
    ("account_id", "VARCHAR"),
    ("customer_id", "VARCHAR"),
    ("name", "VARCHAR"),
    ("region", "VARCHAR"),
    ("timezone", "VARCHAR"),
    ("currency", "VARCHAR"),
    ("balance", MONEY),
    ("amount_past_due", MONEY),
    ("minimum_due", MONEY),
    ("delinquent_since", "DATE"),
    ("credit_score", "BIGINT"),
    ("prior_delinquencies", "BIGINT"),
    ("product", "VARCHAR"),
    ("language", "VARCHAR"),
    ("contact_phone", "VARCHAR"),
    ("contact_email", "VARCHAR"),
    ("contact_address", "VARCHAR"),
    ("contact_phone_at_work", "BOOLEAN"),
    ("contact_email_at_work", "BOOLEAN"),
    ("consent", "VARCHAR"),
    ("flags_dispute", "BOOLEAN"),
    ("flags_cease_contact", "BOOLEAN"),
    ("flags_bankruptcy", "BOOLEAN"),
    ("flags_deceased", "BOOLEAN"),
    ("flags_attorney", "BOOLEAN"),
    ("flags_breathing_space", "BOOLEAN"),
    ("flags_hardship", "BOOLEAN"),
    ("attributes", "VARCHAR"),
    ("timezones", "VARCHAR[]"),
    ("preferred_start", "BIGINT"),
    ("preferred_end", "BIGINT"),
)
"""Columns of ``accounts``, one row per valid account."""

HISTORY_COLUMNS: Final[tuple[tuple[str, str], ...]] = (
    ("position", "BIGINT"),
    ("account_id", "VARCHAR"),
    ("at_utc", "TIMESTAMP"),
    ("at_offset_seconds", "INTEGER"),
    ("type", "VARCHAR"),
    ("channel", "VARCHAR"),
    ("outcome", "VARCHAR"),
    ("action", "VARCHAR"),
    ("notice", "VARCHAR"),
    ("amount", MONEY),
    ("amount_text", "VARCHAR"),
    ("due", "DATE"),
    ("granted", "BOOLEAN"),
    ("breathing_space", "VARCHAR"),
    ("counts_as_attempt", "BOOLEAN"),
)
"""Columns of ``history``, one row per valid event (also events after ``as_of``: the plan drops them)."""

FLAG_NAMES: Final = ("dispute", "cease_contact", "bankruptcy", "deceased", "attorney", "breathing_space",
                     "hardship")
"""The hold flags an account record carries, each a ``flags_<name>`` column."""


def create_statement(table: str, columns: tuple[tuple[str, str], ...]) -> str:
    """``CREATE TABLE`` for an empty relation with these columns (what a reader fills)."""
    body = ", ".join(f'"{name}" {kind}' for name, kind in columns)
    return f'CREATE TABLE "{table}" ({body})'
