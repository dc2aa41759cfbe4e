"""What a dispatch did, per channel: the counts an operator reads and every failure in detail.

The rule this module keeps: an action is counted once, under what happened to it *in this run*. ``sent``
went out now; ``failed`` failed now (``retryable`` ones are tried again by the next run); ``held`` may
have gone out (an ambiguous or interrupted send) and waits for a person; ``failed_earlier`` failed in an
earlier run and is not retried; ``already_sent`` went out in an earlier run; ``deferred`` is due later
today; ``expired`` missed its window (it stays pending, decided again next run); ``paused`` was left
pending because its channel's circuit breaker opened; ``in_flight`` is another run's.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any

__all__ = ["ChannelTally", "DispatchSummary", "Failure"]


@dataclass
class ChannelTally:
    """Counts for one channel in one run (see the module doc for what each means)."""

    sent: int = 0
    failed: int = 0
    held: int = 0
    failed_earlier: int = 0
    already_sent: int = 0
    deferred: int = 0
    expired: int = 0
    paused: int = 0
    in_flight: int = 0

    @property
    def skipped(self) -> int:
        """Actions not sent because an earlier run already had them (sent, or failed for good)."""
        return self.already_sent + self.failed_earlier

    def as_dict(self) -> dict[str, int]:
        """The counts as plain data (``skipped`` included, for readers of older summaries)."""
        data = {item.name: getattr(self, item.name) for item in fields(self)}
        data["skipped"] = self.skipped
        return data


@dataclass(frozen=True)
class Failure:
    """An action that did not go out, and why.

    ``kind`` is ``permanent``, ``transient`` (``retryable``: the next run tries again), ``ambiguous`` or
    ``interrupted`` (held for a person), or ``earlier`` (failed in an earlier run, ``earlier`` is True).
    """

    account_id: str
    action: str
    channel: str
    idempotency_key: str
    error: str
    retryable: bool = False
    earlier: bool = False
    kind: str = "permanent"

    def as_dict(self) -> dict[str, Any]:
        """The failure as plain data."""
        return dict(vars(self))


@dataclass
class DispatchSummary:
    """What a dispatch run did, per channel, every failure in detail, and the channels that paused."""

    channels: dict[str, ChannelTally] = field(default_factory=dict)
    failures: list[Failure] = field(default_factory=list)
    paused: dict[str, str] = field(default_factory=dict)
    """Channel -> why its circuit breaker opened."""

    def tally(self, channel: str) -> ChannelTally:
        """The counts of one channel (created on first use)."""
        return self.channels.setdefault(channel, ChannelTally())

    def total(self, what: str) -> int:
        """One count (``sent``, ``failed``, ...) over every channel."""
        return sum(getattr(t, what) for t in self.channels.values())

    @property
    def failed_now(self) -> list[Failure]:
        """Failures of this run that will not be retried by themselves: permanent ones and held ones."""
        return [f for f in self.failures if not f.earlier and not f.retryable]

    def as_dict(self) -> dict[str, Any]:
        """The summary as plain JSON-ready data."""
        totals = {k: self.total(k) for k in ChannelTally().as_dict()}
        return {
            "totals": totals,
            "channels": {name: t.as_dict() for name, t in sorted(self.channels.items())},
            "paused": dict(sorted(self.paused.items())),
            "failures": [f.as_dict() for f in self.failures],
        }
