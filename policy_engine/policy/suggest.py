"""Close-match suggestions for typos ("did you mean 'sms'?")."""

from __future__ import annotations

import difflib
from collections.abc import Iterable

__all__ = ["allowed_list", "did_you_mean", "zone_suggestion"]


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """Return " — did you mean 'x'?" for the closest choice, or an empty string."""
    matches = difflib.get_close_matches(word, sorted(set(choices)), n=1, cutoff=0.6)
    return f" — did you mean '{matches[0]}'?" if matches else ""


def allowed_list(choices: Iterable[str], limit: int = 25) -> str:
    """A sorted, comma-separated list of the allowed values, shortened past ``limit``."""
    items = sorted(set(choices))
    shown = ", ".join(items[:limit])
    return shown + (f", ... ({len(items) - limit} more)" if len(items) > limit else "")


def zone_suggestion(name: str) -> str:
    """" — did you mean 'Asia/Shanghai'?" for a misspelt IANA time zone name (case-insensitive), or ""."""
    from zoneinfo import available_timezones  # noqa: PLC0415  (reads the zone list: only on an error)

    zones = {zone.lower(): zone for zone in available_timezones()}
    exact = zones.get(name.lower().replace(" ", "_"))
    if exact:
        return f" — did you mean '{exact}'?"
    matches = difflib.get_close_matches(name.lower(), sorted(zones), n=1, cutoff=0.6)
    return f" — did you mean '{zones[matches[0]]}'?" if matches else ""
