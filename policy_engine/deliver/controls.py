"""What an operator controls per channel: how many sends at once, how fast, and when to stop trying.

Set in the channel's own settings (``[channels.sms]`` or ``POLICY_ENGINE_SMS_CONCURRENCY``...):

- ``concurrency`` (integer >= 1, default 1): sends in flight at once on the channel. The channel's
  ``policy_engine_send`` is then called from that many threads at once.
- ``rate_per_second`` (number > 0, default: no limit): at most this many send attempts a second (the rate a
  bank contracts with its provider); a token bucket holding one second's worth.
- ``breaker_failures`` (integer >= 0, default 5): after this many consecutive transient failures the
  channel's circuit breaker opens: the channel pauses for the rest of the run, its actions stay pending and
  are reported, the other channels go on. 0 turns the breaker off.

The rule this module keeps: a value of the wrong type is a configuration error found before anything is
sent (:func:`control_problems`), never a failure of every action.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["CONTROL_KEYS", "ChannelControls", "CircuitBreaker", "RateLimiter", "control_problems"]

CONTROL_KEYS = ("concurrency", "rate_per_second", "breaker_failures")
MAX_CONCURRENCY = 256


@dataclass(frozen=True)
class ChannelControls:
    """The operator's controls of one channel (see the module doc)."""

    concurrency: int = 1
    rate_per_second: float | None = None
    breaker_failures: int = 5

    @classmethod
    def from_settings(cls, settings: Mapping[str, Any]) -> ChannelControls:
        """The controls a channel's settings give (checked first with :func:`control_problems`)."""
        rate = settings.get("rate_per_second")
        return cls(
            concurrency=int(_number(settings.get("concurrency", 1))),
            rate_per_second=float(_number(rate)) if rate not in (None, "") else None,
            breaker_failures=int(_number(settings.get("breaker_failures", 5))),
        )


def _number(value: Any) -> float:
    if isinstance(value, bool):
        raise ValueError("a boolean is not a number")
    if isinstance(value, int | float):
        return value
    return float(str(value).strip())


def control_problems(channel: str, settings: Mapping[str, Any]) -> list[str]:
    """What is wrong with a channel's control settings, one located sentence each."""
    problems: list[str] = []

    def whole(key: str, low: int, high: int | None) -> None:
        if key not in settings:
            return
        raw = settings[key]
        try:
            number = _number(raw)
        except ValueError:
            number = float("nan")
        if number != number or number != int(number) or number < low or (high is not None and number > high):
            limit = f"from {low} to {high}" if high is not None else f"{low} or more"
            problems.append(f"[channels.{channel}] {key} = {raw!r} is not a whole number {limit}")

    whole("concurrency", 1, MAX_CONCURRENCY)
    whole("breaker_failures", 0, None)
    if settings.get("rate_per_second") not in (None, ""):
        raw = settings["rate_per_second"]
        try:
            rate = _number(raw)
        except ValueError:
            rate = float("nan")
        if not rate > 0 or rate == float("inf"):
            problems.append(f"[channels.{channel}] rate_per_second = {raw!r} is not a number above 0")
    return problems


class RateLimiter:
    """A token bucket: at most ``rate`` acquisitions a second on average, bursts of one second's worth."""

    def __init__(self, rate: float | None, *, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.rate = rate
        self._capacity = max(1.0, rate or 1.0)
        self._tokens = self._capacity
        self._clock = clock
        self._sleep = sleep
        self._stamp = clock()
        self._lock = threading.Lock()

    def acquire(self) -> None:
        """Wait until a send may start."""
        if self.rate is None:
            return
        while True:
            with self._lock:
                now = self._clock()
                self._tokens = min(self._capacity, self._tokens + (now - self._stamp) * self.rate)
                self._stamp = now
                if self._tokens >= 1 - 1e-9:  # float steps: 0.1 s x 10/s may sum to 0.999...
                    self._tokens -= 1
                    return
                wait = (1 - self._tokens) / self.rate
            self._sleep(wait)


class CircuitBreaker:
    """Opens after ``threshold`` consecutive transient failures (0: never); stays open for the run."""

    def __init__(self, threshold: int) -> None:
        self.threshold = threshold
        self._consecutive = 0
        self._open_reason: str | None = None
        self._lock = threading.Lock()

    @property
    def is_open(self) -> bool:
        """Whether the channel is paused."""
        return self._open_reason is not None

    @property
    def reason(self) -> str | None:
        """Why it opened (the last failure), or None."""
        return self._open_reason

    def succeeded(self) -> None:
        """A send worked: the count of consecutive failures starts again."""
        with self._lock:
            self._consecutive = 0

    def failed(self, detail: str) -> bool:
        """A transient failure; returns True when this one opened the breaker."""
        with self._lock:
            self._consecutive += 1
            if self._open_reason is None and self.threshold and self._consecutive >= self.threshold:
                self._open_reason = f"{self._consecutive} consecutive transient failures, the last: {detail}"
                return True
            return False
