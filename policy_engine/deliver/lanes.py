"""A channel's lane: its own sender threads, rate limit, circuit breaker and retry rule.

Dispatch hands each claimed, rendered action to the lane of its channel; the lane sends it on one of its
``concurrency`` threads and puts the :class:`SendOutcome` on the shared result queue, which the dispatch
loop records in the ledger. A lane never touches the ledger itself.

The rule it keeps, per attempt, by what the channel's plugin says happened:

- delivered: done; the breaker's count of consecutive failures starts again;
- permanent: done, never retried;
- transient (nothing was handed over, or the provider deduplicates): retried with backoff up to the
  retry policy's limit; each one counts towards the breaker;
- ambiguous (handed over, then no answer): retried like a transient failure only when the channel's
  provider deduplicates by key (``idempotent_provider``); otherwise *held*: never sent again by dispatch,
  reported, and left for a person to check and requeue.

Before each attempt the lane waits for the rate limiter, and gives the action back unsent (``released``)
when the breaker has opened or (``expired``) when the action's window has closed.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections import deque
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from policy_engine._exceptions import (
    AmbiguousDeliveryError,
    PermanentDeliveryError,
    PluginError,
    TransientDeliveryError,
)
from policy_engine.deliver.controls import ChannelControls, CircuitBreaker, RateLimiter
from policy_engine.deliver.redact import Redactor
from policy_engine.hookspecs import ChannelSpec, DeliveryResult, Message
from policy_engine.ledger import Attempt, Claim

__all__ = ["ChannelLane", "SendJob", "SendOutcome"]

log = logging.getLogger(__name__)

OutcomeKind = Literal["delivered", "permanent", "transient", "ambiguous", "released", "expired"]


@dataclass
class SendJob:
    """A claimed action ready to go: its claim, rendered message and the JSON the hook receives."""

    claim: Claim
    outgoing: Any
    """The dispatcher's record of the action (opaque to the lane)."""
    message: Message
    action_json: Mapping[str, Any]
    account_json: Mapping[str, Any]
    decision_json: Mapping[str, Any]
    not_after: datetime | None


@dataclass
class SendOutcome:
    """What the lane achieved for one job, with every attempt it made."""

    job: SendJob
    kind: OutcomeKind
    result: DeliveryResult | None = None
    attempts: list[Attempt] = field(default_factory=list)
    detail: str = ""


class ChannelLane:
    """One channel's sender: a thread pool of ``concurrency`` workers, a rate limiter and a breaker."""

    def __init__(
        self,
        spec: ChannelSpec,
        *,
        send: Callable[..., Any],
        settings: Mapping[str, Any],
        controls: ChannelControls,
        channel_context: Any,
        retry: Any,
        clock: Callable[[], datetime],
        sleep: Callable[[float], None] | None,
        redactor: Redactor,
        results: queue.SimpleQueue[SendOutcome],
    ) -> None:
        self.spec = spec
        self.controls = controls
        self.breaker = CircuitBreaker(controls.breaker_failures)
        self.limiter = RateLimiter(controls.rate_per_second)
        self.backlog: deque[Any] = deque()
        """Actions due on this channel, recorded but not yet claimed (the dispatch loop's)."""
        self.in_flight = 0
        """Claimed actions not yet recorded (the dispatch loop's)."""
        idempotent = spec.idempotent_provider
        # claimed rows waiting for a thread: few for a provider that cannot deduplicate, since a crash
        # holds every claimed row of such a channel for a person to check
        self.window = controls.concurrency * 4 if not idempotent else max(64, controls.concurrency * 32)
        self._send = send
        self._settings = settings
        self._context = channel_context
        self._retry = retry
        self._clock = clock
        self._sleep = sleep
        self._redact = redactor
        self._results = results
        self._opened = threading.Event()
        self._pool = ThreadPoolExecutor(max_workers=controls.concurrency,
                                        thread_name_prefix=f"send-{spec.name}")

    @property
    def room(self) -> int:
        """How many more actions the lane takes now."""
        return max(0, self.window - self.in_flight)

    @property
    def refill_below(self) -> int:
        """Claim more for the lane once fewer than this many of its actions are still being sent (half its
        window, at least one per thread): its threads never run dry, and claims go in batches."""
        return max(self.controls.concurrency, self.window // 2)

    def submit(self, job: SendJob) -> None:
        """Send ``job`` on one of the lane's threads; its outcome goes to the result queue."""
        self.in_flight += 1
        self._pool.submit(self._run, job)

    def close(self) -> None:
        """Stop the threads (after the jobs submitted so far)."""
        self._pool.shutdown(wait=True)

    # -- on a sender thread ------------------------------------------------------------------------

    def _run(self, job: SendJob) -> None:
        try:
            outcome = self._attempts(job)
        except BaseException as exc:  # never lose a job: a bug here is a permanent failure of it
            log.exception("channel %s: sending failed unexpectedly", self.spec.name)
            outcome = SendOutcome(job, "permanent", DeliveryResult("permanent_failure", None,
                                                                   f"dispatch error: {exc.__class__.__name__}"))
        self._results.put(outcome)

    def _attempts(self, job: SendJob) -> SendOutcome:
        attempts: list[Attempt] = []
        failed = 0
        while True:
            self.limiter.acquire()
            if self.breaker.is_open:
                return self._gave_back(job, attempts, "released", f"channel paused: {self.breaker.reason}")
            if job.not_after is not None and self._clock() >= job.not_after:
                return self._gave_back(job, attempts, "expired",
                                       f"its window closed at {job.not_after.isoformat()}")
            started = self._clock()
            kind, result = self._send_once(job)
            detail = self._redact(result.detail)
            result = DeliveryResult(result.status, result.provider_id, detail, result.outcome)
            attempts.append(Attempt(_STATUS[kind], result.provider_id, detail, started, self._clock()))
            if kind == "delivered":
                self.breaker.succeeded()
                return SendOutcome(job, "delivered", result, attempts)
            if kind == "permanent":
                return SendOutcome(job, "permanent", result, attempts, detail or "permanent failure")
            if kind == "ambiguous" and not self.spec.idempotent_provider:
                return SendOutcome(job, "ambiguous", result, attempts, detail or "ambiguous")
            if self.breaker.failed(detail or kind):
                self._opened.set()
            failed += 1
            if failed >= self._retry.max_attempts or self.breaker.is_open:
                why = f"gave up after {failed} attempts: {detail}"
                if self.breaker.is_open and failed < self._retry.max_attempts:
                    why = f"gave up after {failed} attempts (channel paused): {detail}"
                return SendOutcome(job, "transient", result, attempts, why)
            self._pause(self._retry.delay(failed))

    def _pause(self, seconds: float) -> None:
        if self._sleep is not None:
            self._sleep(seconds)
        else:
            self._opened.wait(seconds)  # an opening breaker ends the wait: nothing more to retry

    @staticmethod
    def _gave_back(job: SendJob, attempts: list[Attempt], kind: OutcomeKind, why: str) -> SendOutcome:
        if attempts:  # tried and failed transiently before: the next run tries again
            return SendOutcome(job, "transient", None, attempts, f"gave up after {len(attempts)} attempts ({why})")
        return SendOutcome(job, kind, None, attempts, why)

    def _send_once(self, job: SendJob) -> tuple[OutcomeKind, DeliveryResult]:
        name = self.spec.name
        try:
            result = self._send(
                channel=self.spec, action=job.action_json, account=job.account_json, message=job.message,
                settings=self._settings, decision=job.decision_json, channel_context=self._context,
            )
        except TransientDeliveryError as exc:
            return "transient", DeliveryResult("transient_failure", exc.provider_id, str(exc))
        except PermanentDeliveryError as exc:
            return "permanent", DeliveryResult("permanent_failure", exc.provider_id, str(exc))
        except AmbiguousDeliveryError as exc:
            return "ambiguous", DeliveryResult("transient_failure", exc.provider_id, f"ambiguous: {exc}")
        except (OSError, TimeoutError) as exc:
            # a plugin that did not say whether the message was handed over: it may have been
            return "ambiguous", DeliveryResult("transient_failure", None,
                                               f"ambiguous: {exc.__class__.__name__}: {exc}")
        except PluginError as exc:
            return "permanent", DeliveryResult("permanent_failure", None, str(exc))
        except Exception as exc:  # a plugin bug: retrying will not fix it
            log.exception("channel %s: plugin raised", name)
            return "permanent", DeliveryResult("permanent_failure", None,
                                               f"plugin error: {exc.__class__.__name__}: {exc}")
        if result is None:
            return "permanent", DeliveryResult("permanent_failure", None, f"no plugin sent on channel {name!r}")
        if not isinstance(result, DeliveryResult):
            return "permanent", DeliveryResult("permanent_failure", None, f"plugin returned {type(result).__name__}")
        kind: OutcomeKind = {"delivered": "delivered", "permanent_failure": "permanent"}.get(  # type: ignore[assignment]
            result.status, "transient")
        return kind, result


_STATUS = {"delivered": "delivered", "permanent": "permanent_failure", "transient": "transient_failure",
           "ambiguous": "ambiguous_failure"}
