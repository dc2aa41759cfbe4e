"""Dispatch: hand each decided action to its channel plugin exactly once, and record what happened.

For every action, in order:

1. the decision and a ``pending`` row per action are recorded (once: the idempotency key is UNIQUE);
2. the row is *claimed* (compare-and-set to ``sending`` in a committed transaction) before anything is
   sent, so a second run, concurrent or later, never sends it too;
3. the plugin sends it, with the idempotency key, retrying transient failures with bounded
   exponential backoff;
4. the result and its history event are committed together.

A process that dies between 2 and 4 leaves a ``sending`` row. The next run resolves it by this rule:
if the channel declares ``idempotent_provider`` (its provider deduplicates by the key we pass), the
action is sent again with the same key and the provider drops the duplicate, so nothing is lost and
nothing is sent twice. Otherwise it is marked ``failed_permanent`` with an ``interrupted`` error and
reported, never re-sent blindly: a person checks with the provider and requeues it
(``Ledger.requeue``) if it did not go out. A ``sending`` row is presumed dead when its lease expired or
when the process that claimed it (same host) no longer exists.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from policy_engine._exceptions import PermanentDeliveryError, PluginError, TransientDeliveryError
from policy_engine.deliver.registry import PluginRegistry, get_registry
from policy_engine.deliver.settings import load_settings
from policy_engine.deliver.templates import TemplateError, TemplateStore, render
from policy_engine.hookspecs import ChannelSpec, DeliveryResult, Message
from policy_engine.ledger import Claim, Ledger, worker_identity
from policy_engine.ledger.clock import parse_instant, utc_iso

__all__ = ["ChannelTally", "Dispatcher", "DispatchSummary", "Failure", "RetryPolicy", "dispatch"]

log = logging.getLogger(__name__)

AccountLookup = Mapping[str, Mapping[str, Any]] | Callable[[str], Mapping[str, Any] | None]


@dataclass(frozen=True)
class RetryPolicy:
    """Bounded exponential backoff: ``base_delay * multiplier**(n-1)`` after the n-th failure, capped."""

    max_attempts: int = 4
    base_delay: float = 1.0
    multiplier: float = 2.0
    max_delay: float = 30.0

    def delay(self, failed_attempt: int) -> float:
        """Seconds to wait after the ``failed_attempt``-th consecutive transient failure."""
        return float(min(self.max_delay, self.base_delay * self.multiplier ** (failed_attempt - 1)))


@dataclass
class ChannelTally:
    """Counts for one channel in one run."""

    sent: int = 0
    failed: int = 0
    skipped: int = 0
    deferred: int = 0
    in_flight: int = 0

    def as_dict(self) -> dict[str, int]:
        """The counts as plain data."""
        return dict(vars(self))


@dataclass(frozen=True)
class Failure:
    """An action that did not go out, and why. ``retryable`` failures are retried by the next run."""

    account_id: str
    action: str
    channel: str
    idempotency_key: str
    error: str
    retryable: bool = False
    earlier: bool = False

    def as_dict(self) -> dict[str, Any]:
        """The failure as plain data."""
        return dict(vars(self))


@dataclass
class DispatchSummary:
    """What a dispatch run did, per channel, and every failure in detail."""

    channels: dict[str, ChannelTally] = field(default_factory=dict)
    failures: list[Failure] = field(default_factory=list)

    def tally(self, channel: str) -> ChannelTally:
        """The counts of one channel (created on first use)."""
        return self.channels.setdefault(channel, ChannelTally())

    def total(self, what: str) -> int:
        """One count (``sent``, ``failed``, ...) over every channel."""
        return sum(getattr(t, what) for t in self.channels.values())

    def as_dict(self) -> dict[str, Any]:
        """The summary as plain JSON-ready data."""
        totals = {k: self.total(k) for k in ChannelTally().as_dict()}
        return {
            "totals": totals,
            "channels": {name: t.as_dict() for name, t in sorted(self.channels.items())},
            "failures": [f.as_dict() for f in self.failures],
        }


class Dispatcher:
    """Sends decided actions through the registered channel plugins, recording everything in a ledger."""

    def __init__(
        self,
        *,
        ledger: Ledger,
        registry: PluginRegistry | None = None,
        templates: TemplateStore | None = None,
        context: Mapping[str, Any] | None = None,
        settings: Mapping[str, Mapping[str, Any]] | None = None,
        config: str | Path | Mapping[str, Any] | None = None,
        retry: RetryPolicy | None = None,
        lease_seconds: float = 600.0,
        clock: Callable[[], datetime] | None = None,
        sleep: Callable[[float], None] = time.sleep,
        worker: str | None = None,
    ) -> None:
        self.ledger = ledger
        self.registry = registry or get_registry()
        self.templates = templates or TemplateStore()
        self.context = dict(context or {})
        self.channels = self.registry.registered_channels()
        self.settings = dict(settings) if settings is not None else load_settings(self.channels, config)
        self.retry = retry or RetryPolicy()
        self.lease_seconds = lease_seconds
        self.clock = clock if clock is not None else ledger.clock
        self.sleep = sleep
        self.worker = worker or worker_identity()

    def dispatch(self, decisions: Iterable[Mapping[str, Any]], accounts: AccountLookup) -> DispatchSummary:
        """Send every action of every decision (see the module doc for the guarantees)."""
        summary = DispatchSummary()
        lookup = accounts if callable(accounts) else accounts.get
        for decision in decisions:
            actions = [a for a in decision.get("actions") or [] if self._has_key(decision, a, summary)]
            if not actions:
                continue
            self.ledger.record_decision({**decision, "actions": actions})
            account = lookup(str(decision["account_id"]))
            for action in actions:
                self._dispatch_action(decision, action, account, summary)
        return summary

    # -- one action ------------------------------------------------------------------------------

    def _has_key(self, decision: Mapping[str, Any], action: Mapping[str, Any], summary: DispatchSummary) -> bool:
        if action.get("idempotency_key"):
            return True
        channel = str(action.get("channel", ""))
        summary.tally(channel).failed += 1
        summary.failures.append(
            Failure(str(decision.get("account_id")), str(action.get("action")), channel, "",
                    "action has no idempotency_key: not sent")
        )
        return False

    def _dispatch_action(
        self,
        decision: Mapping[str, Any],
        action: Mapping[str, Any],
        account: Mapping[str, Any] | None,
        summary: DispatchSummary,
    ) -> None:
        key = str(action["idempotency_key"])
        name = str(action.get("channel", ""))
        tally = summary.tally(name)
        spec = self.channels.get(name)

        bad_send_at: str | None = None
        send_at = action.get("send_at")
        if send_at:
            try:
                if parse_instant(str(send_at)) > self.clock():
                    tally.deferred += 1
                    return
            except ValueError as exc:
                bad_send_at = f"invalid_send_at: {exc}"

        outcome = self.ledger.claim(
            key,
            worker=self.worker,
            lease_seconds=self.lease_seconds,
            resend_crashed=bool(spec and spec.idempotent_provider),
        )
        if outcome.claim is None:
            if outcome.state == "delivered":
                tally.skipped += 1
            elif outcome.state == "failed_permanent":
                tally.skipped += 1
                summary.failures.append(self._failure(decision, action, outcome.reason, earlier=True))
            else:
                tally.in_flight += 1
            return
        claim = outcome.claim

        problem = bad_send_at or self._precheck(spec, name, account)
        if problem is not None:
            self._fail_permanently(claim, decision, action, spec, problem, summary)
            return
        assert spec is not None and account is not None
        try:
            message = self._render(spec, decision, action, account)
        except TemplateError as exc:
            self._fail_permanently(claim, decision, action, spec, str(exc), summary)
            return

        self._observe("policy_engine_before_dispatch", decision=decision, action=action, channel=spec)
        result = self._send_with_retries(claim, spec, decision, action, account, message)
        event = self._event(decision, action, spec, result)
        state = {"delivered": "delivered", "permanent_failure": "failed_permanent"}.get(
            result.status, "failed_transient"
        )
        recorded = self.ledger.finish(
            claim, state=state, provider_id=result.provider_id,
            error=None if state == "delivered" else result.detail, event=event,
        )
        if not recorded:
            log.warning("dispatch %s: claim lost to another run; its result was not recorded here", key)
            tally.in_flight += 1
            return
        if state == "delivered":
            tally.sent += 1
        else:
            tally.failed += 1
            summary.failures.append(
                self._failure(decision, action, result.detail or result.status, retryable=state != "failed_permanent")
            )
        log.info("dispatch %s on %s: %s", key, name, state)
        self._observe("policy_engine_after_dispatch", decision=decision, action=action, channel=spec, result=result)

    def _precheck(self, spec: ChannelSpec | None, name: str, account: Mapping[str, Any] | None) -> str | None:
        if spec is None:
            return f"unknown_channel: no plugin provides channel {name!r}"
        if account is None:
            return "account_not_found: the account is not in the accounts given to dispatch"
        if spec.contact_point and not (account.get("contact") or {}).get(spec.contact_point):
            return f"no_contact_point: the account has no contact.{spec.contact_point}"
        return None

    def _render(
        self, spec: ChannelSpec, decision: Mapping[str, Any], action: Mapping[str, Any], account: Mapping[str, Any]
    ) -> Message:
        variables = self.template_variables(decision, action, account, spec)
        message = self.registry.hook.policy_engine_render_message(
            channel=spec, action=action, account=account, context=variables
        )
        if message is not None:
            return message
        template_id = action.get("template")
        if not template_id:
            return Message(text="", template=None, language=account.get("language"))
        return render(self.templates.get(str(template_id), account.get("language")), variables)

    def template_variables(
        self, decision: Mapping[str, Any], action: Mapping[str, Any], account: Mapping[str, Any], spec: ChannelSpec
    ) -> dict[str, Any]:
        """What a template sees for this action (see :mod:`policy_engine.deliver.templates`)."""
        offer_ref = action.get("offer")
        offers = self.context.get("offers") or {}
        if isinstance(offer_ref, Mapping):  # the engine attaches the offer's terms to the action
            offer: Any = dict(offer_ref)
        else:
            offer = offers.get(offer_ref, {"id": offer_ref}) if offer_ref else None
        return {
            "account": account,
            "stage": decision.get("stage"),
            "dpd": decision.get("dpd"),
            "segment": decision.get("segment"),
            "offer": offer,
            "notice": action.get("notice"),
            "action": action,
            "channel": spec.name,
            "policy": decision.get("policy") or {},
            "as_of": decision.get("as_of"),
            "bank": self.context.get("bank") or {},
            "opt_out": self.context.get("opt_out", ""),
        }

    def _send_with_retries(
        self,
        claim: Claim,
        spec: ChannelSpec,
        decision: Mapping[str, Any],
        action: Mapping[str, Any],
        account: Mapping[str, Any],
        message: Message,
    ) -> DeliveryResult:
        settings = self.settings.get(spec.name, {})
        failed = 0
        while True:
            started = self.clock()
            result = self._send_once(spec, decision, action, account, message, settings)
            if result.status != "transient_failure" or failed + 1 >= self.retry.max_attempts:
                self.ledger.record_attempt(
                    claim, status=result.status, provider_id=result.provider_id, detail=result.detail, started=started
                )
                if result.status == "transient_failure":
                    detail = f"gave up after {failed + 1} attempts: {result.detail}"
                    return DeliveryResult("transient_failure", result.provider_id, detail)
                return result
            self.ledger.record_attempt(
                claim, status=result.status, provider_id=result.provider_id, detail=result.detail, started=started
            )
            failed += 1
            self.sleep(self.retry.delay(failed))

    def _send_once(
        self,
        spec: ChannelSpec,
        decision: Mapping[str, Any],
        action: Mapping[str, Any],
        account: Mapping[str, Any],
        message: Message,
        settings: Mapping[str, Any],
    ) -> DeliveryResult:
        try:
            result = self.registry.hook.policy_engine_send(
                channel=spec, action=action, account=account, message=message, settings=settings,
                decision=decision, ledger=self.ledger,
            )
        except TransientDeliveryError as exc:
            return DeliveryResult("transient_failure", exc.provider_id, str(exc))
        except PermanentDeliveryError as exc:
            return DeliveryResult("permanent_failure", exc.provider_id, str(exc))
        except (OSError, TimeoutError) as exc:
            return DeliveryResult("transient_failure", None, f"{exc.__class__.__name__}: {exc}")
        except PluginError as exc:
            return DeliveryResult("permanent_failure", None, str(exc))
        except Exception as exc:  # a plugin bug: retrying will not fix it
            log.exception("channel %s: plugin raised", spec.name)
            return DeliveryResult("permanent_failure", None, f"plugin error: {exc.__class__.__name__}: {exc}")
        if result is None:
            return DeliveryResult("permanent_failure", None, f"no plugin sent on channel {spec.name!r}")
        if not isinstance(result, DeliveryResult):
            return DeliveryResult("permanent_failure", None, f"plugin returned {type(result).__name__}")
        return result

    def _event(
        self, decision: Mapping[str, Any], action: Mapping[str, Any], spec: ChannelSpec, result: DeliveryResult
    ) -> dict[str, Any] | None:
        if result.status == "transient_failure":
            return None  # the row stays retryable; the next run decides again
        event: dict[str, Any] = {
            "account_id": str(decision["account_id"]),
            "at": utc_iso(self.clock()),
            "type": "contact",
            "channel": spec.name,
            "outcome": (result.outcome or "sent") if result.status == "delivered" else "failed",
            "action": action.get("action"),
            "notice": action.get("notice"),
            "idempotency_key": action["idempotency_key"],
            "provider_id": result.provider_id,
        }
        if not spec.counts_as_attempt:
            event["counts_as_attempt"] = False
        return event

    def _fail_permanently(
        self,
        claim: Claim,
        decision: Mapping[str, Any],
        action: Mapping[str, Any],
        spec: ChannelSpec | None,
        reason: str,
        summary: DispatchSummary,
    ) -> None:
        self.ledger.record_attempt(claim, status="permanent_failure", provider_id=None, detail=reason,
                                   started=self.clock())
        self.ledger.finish(claim, state="failed_permanent", error=reason)
        summary.tally(str(action.get("channel", ""))).failed += 1
        summary.failures.append(self._failure(decision, action, reason))

    def _failure(
        self, decision: Mapping[str, Any], action: Mapping[str, Any], error: str, *, retryable: bool = False,
        earlier: bool = False,
    ) -> Failure:
        return Failure(
            str(decision.get("account_id")), str(action.get("action")), str(action.get("channel")),
            str(action.get("idempotency_key")), error, retryable, earlier,
        )

    def _observe(self, hook_name: str, **kwargs: Any) -> None:
        try:
            getattr(self.registry.hook, hook_name)(**kwargs)
        except Exception:  # an observer must not stop the batch
            log.exception("observer hook %s raised", hook_name)


def dispatch(
    decisions: Iterable[Mapping[str, Any]],
    *,
    accounts: AccountLookup,
    ledger: Ledger,
    registry: PluginRegistry | None = None,
    templates: TemplateStore | None = None,
    context: Mapping[str, Any] | None = None,
    settings: Mapping[str, Mapping[str, Any]] | None = None,
    config: str | Path | Mapping[str, Any] | None = None,
    retry: RetryPolicy | None = None,
    lease_seconds: float = 600.0,
) -> DispatchSummary:
    """Send the actions of ``decisions`` (Decision JSON dicts) exactly once; see :class:`Dispatcher`."""
    dispatcher = Dispatcher(
        ledger=ledger, registry=registry, templates=templates, context=context, settings=settings,
        config=config, retry=retry, lease_seconds=lease_seconds,
    )
    return dispatcher.dispatch(decisions, accounts)
