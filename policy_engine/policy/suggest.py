"""Close-match suggestions for typos ("did you mean 'sms'?")."""

from __future__ import annotations

import difflib
from collections.abc import Iterable

__all__ = ["did_you_mean", "allowed_list"]


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """Return " — did you mean 'x'?" for the closest choice, or an empty string."""
    matches = difflib.get_close_matches(word, sorted(set(choices)), n=1, cutoff=0.6)
    return f" — did you mean '{matches[0]}'?" if matches else ""


def allowed_list(choices: Iterable[str], limit: int = 25) -> str:
    """A sorted, comma-separated list of the allowed values, shortened past ``limit``."""
    items = sorted(set(choices))
    shown = ", ".join(items[:limit])
    return shown + (f", ... ({len(items) - limit} more)" if len(items) > limit else "")
