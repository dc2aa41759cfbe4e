"""Where every effective limit was written: the origin of each guardrail setting, keyed by a typed key.

A policy's effective guardrails are the tightest of its own file and the baselines it extends. Each
guardrail family records, for the settings it owns, which file and line set the value that is in force
(an :class:`Origin`), under an :class:`OriginKey`. Validation errors cite these origins ("required by
baseline us-reg-f, policies/baselines/us-reg-f.toml:14:1"), and so does every suppression a decision
reports in its ``source``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

from policy_engine._exceptions import Location

__all__ = ["CapKey", "Origin", "OriginKey", "Origins"]


class CapKey(NamedTuple):
    """What identifies a rolling cap when a policy tightens its baseline's: channels, window, count."""

    channels: tuple[str, ...]
    days: int
    counting: str
    """``attempts`` or ``conversations``."""
    kinds: tuple[str, ...] = ()
    regions: tuple[str, ...] = ()


@dataclass(frozen=True, order=True)
class OriginKey:
    """One guardrail setting: its name (``contact_hours``, ``caps``, ``legal.min_dpd``, ``hold``, ...) and,
    for settings that come in several, which one (a channel, a hold or action id, a cap's key)."""

    setting: str
    qualifier: str | tuple[str, ...] | CapKey | None = None

    def __str__(self) -> str:
        if self.qualifier is None:
            return self.setting
        if isinstance(self.qualifier, str):
            return f"{self.setting}.{self.qualifier}"
        return f"{self.setting}{list(self.qualifier)}"


@dataclass(frozen=True)
class Origin:
    """Where an effective limit was written: policy id, kind and file location."""

    policy_id: str
    kind: str
    location: Location

    def __str__(self) -> str:
        return f"{self.kind} {self.policy_id}, {self.location}"

    @property
    def whose(self) -> str:
        """``baseline us-ma``: the kind and id, as messages name the file that set a limit."""
        return f"{self.kind} {self.policy_id}"


Origins = dict[OriginKey, Origin]
