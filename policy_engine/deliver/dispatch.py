"""Dispatch: hand each decided action to its channel plugin exactly once, and record what happened.

For every action:

1. the decision and a ``pending`` row per action are recorded (once: the idempotency key is UNIQUE);
2. the row is *claimed* (to ``sending``, in a committed transaction) before anything is sent, so a second
   run, concurrent or later, never sends it too;
3. the channel's lane sends it, with the idempotency key, retrying transient failures with bounded
   exponential backoff (see :mod:`policy_engine.deliver.lanes` for the rule per kind of failure);
4. the result, its attempts and its history event are committed together.

At production speed the same four steps run in batches and in parallel. One dispatch loop
(:mod:`.dispatch_run`) owns the ledger, and each of its cycles is one transaction (one commit): the
results that came back since the last cycle, a chunk of decisions with their ``pending`` rows, and the
claims of a batch per channel. After the commit it renders the claimed messages (off the sending path)
and hands them to the channel's lane (``concurrency`` sender threads, ``rate_per_second``, a circuit
breaker). A claimed batch is never larger than what the lane can start soon, so leases do not run out
while rows wait.

Exactly once holds because nothing is sent before its claim is committed and nothing is recorded
without the claim's token: a process killed at any point (a batch claimed, half of it sent, half of the
results recorded) leaves every action ``pending`` (never claimed), ``sending`` (claimed, maybe sent) or
finished. The next run resolves a ``sending`` row by this rule: if the channel declares
``idempotent_provider`` (its provider deduplicates by the key we pass), the action is sent again with the
same key and the provider drops the duplicate, so nothing is lost and nothing is sent twice. Otherwise it
is *held*: marked ``failed_permanent`` (failure ``interrupted``) and reported, never re-sent blindly; a
person checks with the provider and requeues it (``policy-engine ledger requeue``) if it did not go out.
A ``sending`` row is presumed dead when its lease expired or when the process that claimed it (same host)
no longer exists. An ambiguous send (handed over, no answer) on such a channel is held the same way.

An action is never sent before its ``send_at`` (it stays ``pending``, counted ``deferred``) nor after its
``not_after`` (it stays ``pending``, counted ``expired``, and is decided again by the next run).

Decisions arrive typed, as ``(Account, Decision)`` pairs; they become JSON only for the ledger and at
the hook boundary. A send, a render and a template check go to the plugin that owns the channel.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

from pydantic import ValidationError

from policy_engine._exceptions import PluginError
from policy_engine.data.records import Account, describe_validation_error
from policy_engine.decide.decision import Decision, PlannedAction
from policy_engine.deliver.channel_context import LedgerChannelContext
from policy_engine.deliver.controls import ChannelControls, control_problems
from policy_engine.deliver.dispatch_run import DispatchRun
from policy_engine.deliver.outgoing import Outgoing
from policy_engine.deliver.redact import Redactor, secret_values
from policy_engine.deliver.registry import PluginRegistry, get_registry
from policy_engine.deliver.settings import load_settings
from policy_engine.deliver.summary import ChannelTally, DispatchSummary, Failure
from policy_engine.deliver.templates import TemplateStore, render
from policy_engine.hookspecs import ChannelSpec, Message
from policy_engine.ledger import Ledger, worker_identity

__all__ = [
    "AccountLookup",
    "ChannelTally",
    "DispatchProgress",
    "DispatchSummary",
    "Dispatcher",
    "Failure",
    "RetryPolicy",
    "TaskLimits",
    "dispatch",
]

log = logging.getLogger(__name__)

AccountLookup = (
    Mapping[str, Account | Mapping[str, Any]] | Callable[[str], Account | Mapping[str, Any] | None]
)
"""Where :meth:`Dispatcher.dispatch_json` finds the account of a decision: by id, a record or an Account."""

TaskLimits = Callable[[Account, Decision, PlannedAction], Mapping[str, Any]]
"""What the agent queue must re-check when a person claims the task of an action (see ``deliver.task_limits``)."""

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


class DispatchProgress(Protocol):
    """What dispatch tells a progress display, per channel (called from the dispatch loop only)."""

    def planned(self, channel: str, count: int) -> None:
        """``count`` more actions are due on ``channel`` in this run."""

    def done(self, channel: str, count: int) -> None:
        """``count`` of them are settled (sent, failed, held, skipped, paused...)."""


class _NoProgress:
    def planned(self, channel: str, count: int) -> None:
        pass

    def done(self, channel: str, count: int) -> None:
        pass


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
        sleep: Callable[[float], None] | None = None,
        worker: str | None = None,
        progress: DispatchProgress | None = None,
        task_limits: TaskLimits | None = None,
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
        self.progress: DispatchProgress = progress or _NoProgress()
        self.task_limits = task_limits
        self.redact = Redactor(secret_values(self.settings))
        """Masks URL credentials and secret settings in every text dispatch stores or reports."""
        self.channel_context = LedgerChannelContext(ledger)

    def controls(self, channel: str) -> ChannelControls:
        """The operator's controls of a channel; PluginError when its settings give a wrong type."""
        values = self.settings.get(channel, {})
        problems = control_problems(channel, values)
        if problems:
            raise PluginError("; ".join(problems))
        return ChannelControls.from_settings(values)

    def dispatch(self, batch: Iterable[tuple[Account, Decision]]) -> DispatchSummary:
        """Send every action of every decision (see the module doc for the guarantees)."""
        summary = DispatchSummary()
        return DispatchRun(self, summary).run((decision, account, None) for account, decision in batch)

    def dispatch_json(self, decisions: Iterable[Mapping[str, Any]], accounts: AccountLookup) -> DispatchSummary:
        """Send decisions given as the contract's Decision JSON (``dry-run --format json``), their accounts
        found in ``accounts`` by id (account records or Accounts); otherwise exactly like :meth:`dispatch`.

        A decision that does not parse is reported (one failure per action) and the batch goes on; an
        action whose account is missing or invalid fails permanently with the reason.
        """
        summary = DispatchSummary()
        lookup = accounts if callable(accounts) else accounts.get

        def parsed() -> Iterator[tuple[Decision, Account | None, str | None]]:
            for data in decisions:
                if not isinstance(data, Mapping):
                    _report_unreadable({}, f"invalid_decision: {type(data).__name__} is not a JSON object", summary)
                    continue
                try:
                    decision = Decision.from_dict(data)
                except (ValueError, TypeError, AttributeError) as exc:  # AttributeError: an action is no object
                    _report_unreadable(data, f"invalid_decision: {exc}", summary)
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
                yield decision, account, problem

        return DispatchRun(self, summary).run(parsed())

    # -- messages ----------------------------------------------------------------------------------

    def render_message(self, spec: ChannelSpec, out: Outgoing) -> Message:
        """The message of an action: the channel owner's render hook, else the template store."""
        variables = self.template_variables(out.decision_json, out.action_json, out.account_json, spec)
        message = self.registry.owner_hook(spec.name, "policy_engine_render_message")(
            channel=spec, action=out.action_json, account=out.account_json, context=variables
        )
        if message is not None:
            return message
        language = out.account.language if out.account is not None else None
        if not out.action.template:
            return Message(text="", template=None, language=language)
        rendered = render(self.templates.get(out.action.template, language), variables)
        if rendered.language is None and self.context.get("locale"):
            # a language-less template of a policy is written in the policy's locale
            rendered = Message(rendered.text, rendered.html, rendered.subject, rendered.template,
                               str(self.context["locale"]), rendered.extra)
        return rendered

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

    def observe(self, hook_name: str, **kwargs: Any) -> None:
        """Call an observer hook on every plugin; an observer that raises never stops the batch."""
        try:
            getattr(self.registry.hook, hook_name)(**kwargs)
        except Exception:
            log.exception("observer hook %s raised", hook_name)


def _report_unreadable(data: Mapping[str, Any], error: str, summary: DispatchSummary) -> None:
    actions = data.get("actions") if isinstance(data.get("actions"), list) else []
    for action in actions or [{}]:
        item = action if isinstance(action, Mapping) else {}
        channel = str(item.get("channel", ""))
        summary.tally(channel).failed += 1
        summary.failures.append(Failure(str(data.get("account_id")), str(item.get("action")), channel,
                                        str(item.get("idempotency_key") or ""), error))


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
    progress: DispatchProgress | None = None,
    task_limits: TaskLimits | None = None,
) -> DispatchSummary:
    """Send the actions of ``(Account, Decision)`` pairs exactly once; see :class:`Dispatcher`."""
    dispatcher = Dispatcher(
        ledger=ledger, registry=registry, templates=templates, context=context, settings=settings,
        config=config, retry=retry, lease_seconds=lease_seconds, progress=progress, task_limits=task_limits,
    )
    return dispatcher.dispatch(batch)

