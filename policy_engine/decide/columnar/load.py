"""Validated records into the plan's input relations: Arrow tables with the columns of :mod:`.schema`.

The records come from the same readers every backend uses, so the rejects (and their messages) are the
ones the row engine gives, by construction. Rows are converted in batches, never all at once as Python
objects.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Iterator
from datetime import UTC, time
from decimal import Context, Decimal
from typing import Any, Final

import pyarrow as pa

from policy_engine.data.records import Account, HistoryEvent
from policy_engine.decide.columnar.schema import ACCOUNT_COLUMNS, FLAG_NAMES, HISTORY_COLUMNS

__all__ = ["BATCH_ROWS", "account_batches", "arrow_schema", "attributes_json", "history_batches"]

BATCH_ROWS: Final = 50_000
"""Rows per Arrow batch handed to DuckDB."""

_MICROS_PER_SECOND: Final = 1_000_000
_FINEST: Final = Decimal("1E-18")
_WIDE: Final = Context(prec=60)
_HUGE: Final = 1e300
"""An infinite attribute number as the plan stores it: beyond every number a condition may compare with
(10^30), so every comparison comes out as it would against infinity."""
_NOT_A_NUMBER: Final = {"$not_a_number": True}
"""A NaN attribute as the plan stores it: an object, which (like NaN) satisfies no comparison."""


def _arrow_type(sql_type: str) -> pa.DataType:
    if sql_type.startswith("DECIMAL"):
        return pa.decimal128(38, 18)
    return {
        "BIGINT": pa.int64(), "INTEGER": pa.int32(), "VARCHAR": pa.string(), "BOOLEAN": pa.bool_(),
        "DATE": pa.date32(), "TIMESTAMP": pa.timestamp("us"), "VARCHAR[]": pa.list_(pa.string()),
    }[sql_type]


def arrow_schema(columns: tuple[tuple[str, str], ...]) -> pa.Schema:
    """The Arrow schema of a relation of :mod:`.schema`."""
    return pa.schema([(name, _arrow_type(kind)) for name, kind in columns])


def _plain_json(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return _NOT_A_NUMBER if math.isnan(value) else math.copysign(_HUGE, value)
    if isinstance(value, dict):
        return {key: _plain_json(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_plain_json(item) for item in value]
    return value


def attributes_json(attributes: dict[str, Any]) -> str:
    """The ``attributes`` column: the attribute object as JSON text, keys sorted."""
    if not attributes:
        return "{}"
    return json.dumps(_plain_json(attributes), sort_keys=True, ensure_ascii=False, separators=(",", ":"))


def _micros(clock: time) -> int:
    return ((clock.hour * 60 + clock.minute) * 60 + clock.second) * _MICROS_PER_SECOND + clock.microsecond


def _money(value: Decimal | None) -> Decimal | None:
    return None if value is None else value.quantize(_FINEST, context=_WIDE)


def _account_row(position: int, account: Account) -> tuple[Any, ...]:
    contact, consent, flags = account.contact, account.consent, account.flags
    given = {key: value for key, value in {**dict(consent), **(consent.__pydantic_extra__ or {})}.items()
             if isinstance(value, bool)}
    hours = account.preferred_hours
    return (
        position, account.account_id, account.customer_id, account.name, account.region, account.timezone,
        account.currency, _money(account.balance), _money(account.amount_past_due), _money(account.minimum_due),
        account.delinquent_since, account.credit_score, account.prior_delinquencies, account.product,
        account.language, contact.phone, contact.email, contact.address, contact.phone_at_work,
        contact.email_at_work, json.dumps(given, sort_keys=True, separators=(",", ":")),
        *(getattr(flags, name) for name in FLAG_NAMES),
        attributes_json(account.attributes), list(account.timezones),
        _micros(hours.start) if hours else None, _micros(hours.end) if hours else None,
    )


def _history_row(position: int, event: HistoryEvent) -> tuple[Any, ...]:
    offset = event.at.utcoffset()
    assert offset is not None  # validated: every instant has an offset
    return (
        position, event.account_id, event.at.astimezone(UTC).replace(tzinfo=None), int(offset.total_seconds()),
        event.type, event.channel, event.outcome, event.action, event.notice, _money(event.amount),
        None if event.amount is None else str(event.amount), event.due, event.granted, event.breathing_space,
        event.counts_as_attempt,
    )


def _batches(rows: Iterator[tuple[Any, ...]], schema: pa.Schema) -> Iterator[pa.RecordBatch]:
    chunk: list[tuple[Any, ...]] = []
    for row in rows:
        chunk.append(row)
        if len(chunk) >= BATCH_ROWS:
            yield _batch(chunk, schema)
            chunk = []
    if chunk:
        yield _batch(chunk, schema)


def _batch(rows: list[tuple[Any, ...]], schema: pa.Schema) -> pa.RecordBatch:
    columns = list(zip(*rows, strict=True))
    return pa.RecordBatch.from_arrays([pa.array(values, type=field.type) for values, field in
                                       zip(columns, schema, strict=True)], schema=schema)


def account_batches(accounts: Iterable[Account]) -> Iterator[pa.RecordBatch]:
    """The ``accounts`` relation, in batches, positions counted from 0 in input order."""
    schema = arrow_schema(ACCOUNT_COLUMNS)
    return _batches((_account_row(position, account) for position, account in enumerate(accounts)), schema)


def history_batches(events: Iterable[HistoryEvent]) -> Iterator[pa.RecordBatch]:
    """The ``history`` relation, in batches, positions counted from 0 in input order."""
    schema = arrow_schema(HISTORY_COLUMNS)
    return _batches((_history_row(position, event) for position, event in enumerate(events)), schema)
