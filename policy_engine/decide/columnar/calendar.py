"""Small tables built in Python so the plan needs no per-row time-zone function.

* ``zone_offsets``: per zone, the UTC offset in force over each span of instants (DST-correct), covering
  every instant the history holds; an event's local day is the date of ``at_utc + offset``.
* ``zone_days``: per zone, the local date of ``as_of`` (today) and ``as_of`` itself as a UTC instant (a
  simulation evaluates each zone at its own local time, so ``as_of`` may differ by zone).
* ``deemed_service``: per holiday calendar and local day, the business day a posted notice is deemed
  served on.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping
from datetime import UTC, date, datetime, timedelta
from typing import Final
from zoneinfo import ZoneInfo

import pyarrow as pa

from policy_engine.guardrails.hours import business_days_after

__all__ = ["deemed_service_table", "zone_days_table", "zone_instant", "zone_offsets_table"]

_STEP: Final = timedelta(hours=6)
"""How finely offsets are sampled: no zone changes its offset twice within six hours."""
_EARLIEST: Final = datetime(1899, 12, 30)
_LATEST: Final = datetime(3000, 1, 2)


def _offset(zone: ZoneInfo, instant: datetime) -> int:
    offset = instant.replace(tzinfo=UTC).astimezone(zone).utcoffset()
    assert offset is not None
    return int(offset.total_seconds())


def _change_at(zone: ZoneInfo, before: datetime, after: datetime) -> datetime:
    """The first second in (before, after] at which the offset differs from the one at ``before``."""
    start = _offset(zone, before)
    low, high = before, after
    while high - low > timedelta(seconds=1):
        middle = low + (high - low) / 2
        middle = middle.replace(microsecond=0)
        if middle <= low:
            break
        if _offset(zone, middle) == start:
            low = middle
        else:
            high = middle
    return high


@functools.lru_cache(maxsize=256)
def _spans(zone_name: str, first_year: int, last_year: int) -> tuple[tuple[str, datetime, datetime, int], ...]:
    """The zone's offset spans over whole years (a day loop asks again and again for the same years)."""
    zone = ZoneInfo(zone_name)
    first = max(datetime(first_year, 1, 1), _EARLIEST + timedelta(days=1))
    last = min(datetime(last_year + 1, 1, 1), _LATEST - timedelta(days=1))
    spans: list[tuple[str, datetime, datetime, int]] = []
    span_start, current = _EARLIEST, _offset(zone, first)
    cursor = first
    while cursor < last:
        following = min(cursor + _STEP, last)
        if _offset(zone, following) != current:
            change = _change_at(zone, cursor, following)
            spans.append((zone_name, span_start, change, current))
            span_start, current = change, _offset(zone, change)
            cursor = change
        else:
            cursor = following
    spans.append((zone_name, span_start, _LATEST, current))
    return tuple(spans)


def zone_offsets_table(zones: Iterable[str], first: datetime, last: datetime) -> pa.Table:
    """Offset spans (zone, start_utc inclusive, end_utc exclusive, offset_seconds) for instants between
    ``first`` and ``last`` (naive UTC); the first and last spans stretch to the years 1900 and 2999."""
    first = max(first - timedelta(days=2), _EARLIEST + timedelta(days=1))
    last = min(last + timedelta(days=2), _LATEST - timedelta(days=1))
    rows = [span for name in sorted(set(zones)) for span in _spans(name, first.year, last.year)]
    return pa.table({
        "zone": pa.array([row[0] for row in rows], pa.string()),
        "start_utc": pa.array([row[1] for row in rows], pa.timestamp("us")),
        "end_utc": pa.array([row[2] for row in rows], pa.timestamp("us")),
        "offset_seconds": pa.array([row[3] for row in rows], pa.int64()),
    })


def zone_instant(zone: str, as_of: datetime, instants: Mapping[str, datetime] | None) -> datetime:
    """The instant a zone's accounts are evaluated at: its entry in ``instants``, else ``as_of``."""
    return (instants or {}).get(zone, as_of)


def zone_days_table(zones: Iterable[str], as_of: datetime, instants: Mapping[str, datetime] | None = None) -> pa.Table:
    """(zone, today, as_of_utc): each zone's ``as_of`` (its entry in ``instants``, else ``as_of``) as a UTC
    instant and its local date there (today)."""
    names = sorted(set(zones))
    moments = [zone_instant(name, as_of, instants) for name in names]
    return pa.table({
        "zone": pa.array(names, pa.string()),
        "today": pa.array([moment.astimezone(ZoneInfo(name)).date() for name, moment in zip(names, moments,
                                                                                             strict=True)],
                          pa.date32()),
        "as_of_utc": pa.array([moment.astimezone(UTC).replace(tzinfo=None) for moment in moments],
                              pa.timestamp("us")),
    })


def deemed_service_table(pairs: Iterable[tuple[str, date]], business_days: int) -> pa.Table:
    """(calendar, posted, served): a letter posted on ``posted`` is deemed served ``business_days`` business
    days later, weekends and the calendar's public holidays skipped (calendar '' means none)."""
    rows = sorted(set(pairs))
    return pa.table({
        "calendar": pa.array([calendar for calendar, _ in rows], pa.string()),
        "posted": pa.array([day for _, day in rows], pa.date32()),
        "served": pa.array([business_days_after(day, business_days, calendar or None) for calendar, day in rows],
                           pa.date32()),
    })
