"""The hours table: the contact-hours verdict per channel and distinct hours key, built in Python.

The hours check depends only on the channel and on the account's ``timezone``, ``timezones``, preferred
hours and region (``as_of`` is one instant per run). A portfolio has few distinct such keys, so the row
check itself runs once per (key, channel) and the plan joins its verdict, ``send_at`` and ``not_after``:
DST, holidays, days off and candidate zones come out exactly as the row engine has them. A key is checked at
its zone's ``as_of`` (a simulation evaluates each zone at its own local time).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime, time
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pyarrow as pa

from policy_engine.data.records import Account, PreferredHours
from policy_engine.decide.columnar.calendar import zone_instant
from policy_engine.decide.facts import FactContext
from policy_engine.guardrails import Candidate, GuardrailState
from policy_engine.guardrails.base import ChannelIndex
from policy_engine.guardrails.hours import HOURS
from policy_engine.policy.loader import LoadedPolicy

__all__ = ["hours_table"]

_MICROS = 1_000_000


def _clock(micros: int) -> time:
    seconds, micro = divmod(micros, _MICROS)
    minutes, second = divmod(seconds, 60)
    hour, minute = divmod(minutes, 60)
    return time(hour, minute, second, micro)


def _account(key: Sequence[Any]) -> Account:
    timezone, timezones, start, end, region = key
    hours = None if start is None or end is None else PreferredHours.model_construct(start=_clock(start),
                                                                                     end=_clock(end))
    return Account.model_construct(account_id="-", balance=Decimal(0), timezone=timezone,
                                   timezones=tuple(timezones or ()), preferred_hours=hours, region=region)


def hours_table(loaded: LoadedPolicy, keys: Iterable[tuple[int, Sequence[Any]]], channels: Iterable[str],
                as_of: datetime, instants: Mapping[str, datetime] | None = None) -> pa.Table:
    """(hours_key, channel, reason, detail, source, send_at, send_at_utc, not_after) for each key and channel,
    checked at the key's zone's entry in ``instants`` (zone name to ``as_of``), else at ``as_of``."""
    policy_zone_name = loaded.policy.policy.timezone or "UTC"
    policy_zone = ZoneInfo(policy_zone_name)
    index = ChannelIndex(loaded.channels)
    notices = {notice.id: notice for notice in loaded.policy.notices}
    channel_list = sorted(set(channels))
    rows: list[tuple[Any, ...]] = []
    for key_id, key in keys:
        account = _account(key)
        zone = account.zone or policy_zone
        moment = zone_instant(account.timezone or policy_zone_name, as_of, instants)
        ctx = FactContext(account, (), moment, zone)
        for channel in channel_list:
            state = GuardrailState(ctx, loaded.policy.guardrails, [], [], loaded.sources, index, notices)
            candidate = Candidate(channel, channel, None, None, None, (), None, None, False, 0, None, 0)
            verdict = HOURS.check(candidate, state)
            send_at = state.send_at
            assert send_at is not None
            rows.append((key_id, channel, verdict.reason.value if verdict else None,
                         verdict.detail if verdict else None, verdict.source if verdict else None,
                         send_at.isoformat(), send_at.astimezone(UTC).replace(tzinfo=None),
                         state.not_after.isoformat() if state.not_after else None))
    names = ("hours_key", "channel", "reason", "detail", "source", "send_at", "send_at_utc", "not_after")
    types = (pa.int64(), pa.string(), pa.string(), pa.string(), pa.string(), pa.string(), pa.timestamp("us"),
             pa.string())
    return pa.table({name: pa.array([row[position] for row in rows], kind)
                     for position, (name, kind) in enumerate(zip(names, types, strict=True))})
