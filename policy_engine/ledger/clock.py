"""Time as the ledger writes it: ISO 8601 text in UTC, microsecond precision, fixed width."""

from __future__ import annotations

from datetime import UTC, datetime


def utc_now() -> datetime:
    """The current instant, timezone-aware in UTC."""
    return datetime.now(UTC)


def utc_iso(moment: datetime | None = None) -> str:
    """``moment`` (default: now) as fixed-width UTC ISO text, which sorts correctly as text."""
    value = moment if moment is not None else utc_now()
    if value.tzinfo is None:
        raise ValueError(f"naive datetime {value!r}: the ledger needs a UTC offset")
    return value.astimezone(UTC).isoformat(timespec="microseconds")


def parse_instant(text: str) -> datetime:
    """Parse ISO 8601 text with an offset (``Z`` accepted); ValueError when it has none."""
    value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if value.tzinfo is None:
        raise ValueError(f"{text!r} has no UTC offset")
    return value
