"""Dispatch: hand each decided action to its channel plugin exactly once, and record what happened.

For every action, in order:

1. the decision and a ``pending`` row per action are recorded (once: the idempotency key is UNIQUE);
2. the row is *claimed* (compare-and-set to ``sending`` in a committed transaction) before anything is
   sent, so a second run, concurrent or later, never sends it too;
3. the plugin sends it, with the idempotency key, retrying transient failures with bounded
   exponential backoff;
4. the result and its history event are committed together.

Decisions arrive typed, as ``(Account, Decision)`` pairs; they become JSON only for the ledger and at
the hook boundary (each hook gets the contract's Decision JSON, action and account record). A send,
a render and a template check go to the plugin that owns the channel, no other.

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

from pydantic import ValidationError

from policy_engine._exceptions import PermanentDeliveryError, PluginError, TransientDeliveryError
from policy_engine.data.records import Account, describe_validation_error
from policy_engine.decide.decision import Decision, PlannedAction
from policy_engine.deliver.channel_context import LedgerChannelContext
from policy_engine.deliver.registry import PluginRegistry, get_registry
from policy_engine.deliver.settings import load_settings
from policy_engine.deliver.templates import TemplateError, TemplateStore, render, template_account
from policy_engine.hookspecs import ChannelSpec, DeliveryResult, Message
from policy_engine.ledger import Claim, Ledger, worker_identity
from policy_engine.ledger.clock import utc_iso
from policy_engine.policy.channels import ChannelKind

__all__ = ["AccountLookup", "ChannelTally", "Dispatcher", "DispatchSummary", "Failure", "RetryPolicy", "dispatch"]

log = logging.getLogger(__name__)

AccountLookup = (
    Mapping[str, Account | Mapping[str, Any]] | Callable[[str], Account | Mapping[str, Any] | None]
)
"""Where :meth:`Dispatcher.dispatch_json` finds the account of a decision: by id, a record or an Account."""


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


@dataclass
class _Outgoing:
    """One action on its way out, typed, with the JSON forms the ledger and the hooks receive."""

    decision: Decision
    decision_json: dict[str, Any]
    action: PlannedAction
    action_json: dict[str, Any]
    account: Account | None
    account_json: dict[str, Any]

    def failure(self, error: str, *, retryable: bool = False, earlier: bool = False) -> Failure:
        """This action as a reported failure."""
        return Failure(self.decision.account_id, self.action.action, self.action.channel,
                       self.action.idempotency_key, error, retryable, earlier)


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
        self.channel_context = LedgerChannelContext(ledger)

    def dispatch(self, batch: Iterable[tuple[Account, Decision]]) -> DispatchSummary:
        """Send every action of every decision (see the module doc for the guarantees)."""
        summary = DispatchSummary()
        for account, decision in batch:
            self._dispatch_decision(decision, account, None, summary)
        return summary

    def dispatch_json(self, decisions: Iterable[Mapping[str, Any]], accounts: AccountLookup) -> DispatchSummary:
        """Send decisions given as the contract's Decision JSON (``dry-run --format json``), their accounts
        found in ``accounts`` by id (account records or Accounts); otherwise exactly like :meth:`dispatch`.

        A decision that does not parse is reported (one failure per action) and the batch goes on; an
        action whose account is missing or invalid fails permanently with the reason.
        """
        summary = DispatchSummary()
        lookup = accounts if callable(accounts) else accounts.get
        for data in decisions:
            if not isinstance(data, Mapping):
                self._report_unreadable({}, f"invalid_decision: {type(data).__name__} is not a JSON object", summary)
                continue
            try:
                decision = Decision.from_dict(data)
            except (ValueError, TypeError, AttributeError) as exc:  # AttributeError: an action is not an object
                self._report_unreadable(data, f"invalid_decision: {exc}", summary)
                continue
            record = lookup(decision.account_id)
            account: Account | None = None
            problem = "account_not_found: the account is not in the accounts given to dispatch"
            if isinstance(record, Account):
                account = record
            elif record is not None:
                try:
                    account = Account.model_validate(record)
                except ValidationError as exc:
                    problem = f"invalid_account: {describe_validation_error(exc)}"
            self._dispatch_decision(decision, account, problem, summary)
        return summary

    # -- one decision, one action ------------------------------------------------------------------

    def _dispatch_decision(
        self, decision: Decision, account: Account | None, missing_account: str | None, summary: DispatchSummary
    ) -> None:
        actions = [a for a in decision.actions if self._has_key(decision, a, summary)]
        if not actions:
            return
        decision_json = decision.to_dict()
        decision_json["actions"] = [a.to_dict() for a in actions]
        self.ledger.record_decision(decision_json)
        account_json = template_account(account) if account is not None else {}
        for action, action_json in zip(actions, decision_json["actions"], strict=True):
            outgoing = _Outgoing(decision, decision_json, action, action_json, account, account_json)
            self._dispatch_action(outgoing, missing_account, summary)

    def _has_key(self, decision: Decision, action: PlannedAction, summary: DispatchSummary) -> bool:
        if action.idempotency_key:
            return True
        summary.tally(action.channel).failed += 1
        summary.failures.append(
            Failure(decision.account_id, action.action, action.channel, "", "action has no idempotency_key: not sent")
        )
        return False

    def _report_unreadable(self, data: Mapping[str, Any], error: str, summary: DispatchSummary) -> None:
        actions = data.get("actions") if isinstance(data.get("actions"), list) else []
        for action in actions or [{}]:
            item = action if isinstance(action, Mapping) else {}
            channel = str(item.get("channel", ""))
            summary.tally(channel).failed += 1
            summary.failures.append(Failure(str(data.get("account_id")), str(item.get("action")), channel,
                                            str(item.get("idempotency_key") or ""), error))

    def _dispatch_action(self, out: _Outgoing, missing_account: str | None, summary: DispatchSummary) -> None:
        action = out.action
        key = action.idempotency_key
        tally = summary.tally(action.channel)
        spec = self.channels.get(action.channel)

        bad_send_at: str | None = None
        if action.send_at.utcoffset() is None:
            bad_send_at = f"invalid_send_at: {action.send_at.isoformat()!r} has no UTC offset"
        elif action.send_at > self.clock():
            tally.deferred += 1
            return

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
                summary.failures.append(out.failure(outcome.reason or "", earlier=True))
            else:
                tally.in_flight += 1
            return
        claim = outcome.claim

        problem = bad_send_at or self._precheck(spec, out, missing_account)
        if problem is not None:
            self._fail_permanently(claim, out, problem, summary)
            return
        assert spec is not None
        try:
            message = self._render(spec, out)
        except TemplateError as exc:
            self._fail_permanently(claim, out, str(exc), summary)
            return

        self._observe("policy_engine_before_dispatch", decision=out.decision_json, action=out.action_json,
                      channel=spec)
        result = self._send_with_retries(claim, spec, out, message)
        event = self._event(out, spec, result)
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
            summary.failures.append(out.failure(result.detail or result.status, retryable=state != "failed_permanent"))
        log.info("dispatch %s on %s: %s", key, action.channel, state)
        self._observe("policy_engine_after_dispatch", decision=out.decision_json, action=out.action_json,
                      channel=spec, result=result)

    def _precheck(self, spec: ChannelSpec | None, out: _Outgoing, missing_account: str | None) -> str | None:
        if spec is None:
            return f"unknown_channel: no plugin provides channel {out.action.channel!r}"
        if out.account is None:
            return missing_account or "account_not_found: the account is not in the accounts given to dispatch"
        if spec.contact_point and not getattr(out.account.contact, spec.contact_point):
            return f"no_contact_point: the account has no contact.{spec.contact_point}"
        return None

    def _render(self, spec: ChannelSpec, out: _Outgoing) -> Message:
        variables = self.template_variables(out.decision_json, out.action_json, out.account_json, spec)
        message = self.registry.owner_hook(spec.name, "policy_engine_render_message")(
            channel=spec, action=out.action_json, account=out.account_json, context=variables
        )
        if message is not None:
            return message
        language = out.account.language if out.account is not None else None
        if not out.action.template:
            return Message(text="", template=None, language=language)
        return render(self.templates.get(out.action.template, language), variables)

    def template_variables(
        self, decision: Mapping[str, Any], action: Mapping[str, Any], account: Mapping[str, Any], spec: ChannelSpec
    ) -> dict[str, Any]:
        """What a template sees for this action, from the JSON forms of the decision, action and account
        (see :mod:`policy_engine.policy.templates`); an offer is its terms, from the action or the context."""
        offer: Any = action.get("offer")
        offers = self.context.get("offers") or {}
        if isinstance(offer, Mapping):
            offer = {**(offers.get(offer.get("id")) or {}), **offer}
        elif offer:
            offer = offers.get(offer, {"id": offer})
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

    def _send_with_retries(self, claim: Claim, spec: ChannelSpec, out: _Outgoing, message: Message) -> DeliveryResult:
        settings = self.settings.get(spec.name, {})
        failed = 0
        while True:
            started = self.clock()
            result = self._send_once(spec, out, message, settings)
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
        self, spec: ChannelSpec, out: _Outgoing, message: Message, settings: Mapping[str, Any]
    ) -> DeliveryResult:
        try:
            result = self.registry.owner_hook(spec.name, "policy_engine_send")(
                channel=spec, action=out.action_json, account=out.account_json, message=message, settings=settings,
                decision=out.decision_json, channel_context=self.channel_context,
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

    def _event(self, out: _Outgoing, spec: ChannelSpec, result: DeliveryResult) -> dict[str, Any] | None:
        if result.status == "transient_failure":
            return None  # the row stays retryable; the next run decides again
        event: dict[str, Any] = {
            "account_id": out.decision.account_id,
            "at": utc_iso(self.clock()),
            "type": "contact",
            "channel": spec.name,
            "outcome": (result.outcome or "sent") if result.status == "delivered" else "failed",
            "action": out.action.action,
            "notice": out.action.notice,
            "idempotency_key": out.action.idempotency_key,
            "provider_id": result.provider_id,
        }
        if not spec.counts_as_attempt or spec.kind == ChannelKind.AGENT:
            # a referral or a webhook reaches no one; an agent task counts when the person has called
            # (completing the task records that call with its real outcome)
            event["counts_as_attempt"] = False
        return event

    def _fail_permanently(self, claim: Claim, out: _Outgoing, reason: str, summary: DispatchSummary) -> None:
        self.ledger.record_attempt(claim, status="permanent_failure", provider_id=None, detail=reason,
                                   started=self.clock())
        self.ledger.finish(claim, state="failed_permanent", error=reason)
        summary.tally(out.action.channel).failed += 1
        summary.failures.append(out.failure(reason))

    def _observe(self, hook_name: str, **kwargs: Any) -> None:
        try:
            getattr(self.registry.hook, hook_name)(**kwargs)
        except Exception:  # an observer must not stop the batch
            log.exception("observer hook %s raised", hook_name)


def dispatch(
    batch: Iterable[tuple[Account, Decision]],
    *,
    ledger: Ledger,
    registry: PluginRegistry | None = None,
    templates: TemplateStore | None = None,
    context: Mapping[str, Any] | None = None,
    settings: Mapping[str, Mapping[str, Any]] | None = None,
    config: str | Path | Mapping[str, Any] | None = None,
    retry: RetryPolicy | None = None,
    lease_seconds: float = 600.0,
) -> DispatchSummary:
    """Send the actions of ``(Account, Decision)`` pairs exactly once; see :class:`Dispatcher`."""
    dispatcher = Dispatcher(
        ledger=ledger, registry=registry, templates=templates, context=context, settings=settings,
        config=config, retry=retry, lease_seconds=lease_seconds,
    )
    return dispatcher.dispatch(batch)
