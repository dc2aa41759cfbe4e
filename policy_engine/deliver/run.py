"""The daily batch: evaluate -> persist decisions -> dispatch through plugins -> record outcomes.

The ledger is the history the engine reads on the next run, so cadence and caps hold across runs, and a
rerun the same day finds every action already sent (idempotency keys are unique in the ledger).
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from policy_engine.data.history import HistoryIndex
from policy_engine.data.records import Account, HistoryEvent
from policy_engine.decide.decision import Decision
from policy_engine.decide.engine import Engine
from policy_engine.deliver.controls import control_problems
from policy_engine.deliver.dispatch import Dispatcher, DispatchProgress, DispatchSummary, RetryPolicy
from policy_engine.deliver.opt_out import opt_out_problems
from policy_engine.deliver.registry import PluginRegistry
from policy_engine.deliver.settings import load_settings, missing_settings
from policy_engine.deliver.task_limits import TaskLimitsBuilder
from policy_engine.deliver.templates import TemplateStore
from policy_engine.ledger import Ledger
from policy_engine.policy.models import PolicyFile

__all__ = [
    "BatchReport",
    "channels_used",
    "history_with_ledger",
    "rehearsal_clock",
    "run_batch",
    "settings_problems",
    "templates_of",
    "unconfigured_channels",
]


@dataclass
class BatchReport:
    """What a run did: decisions made, what the dispatcher sent or failed, and what was suppressed, with
    the ledger (credentials hidden), policy and as-of it ran with."""

    accounts: int = 0
    suppressed: Counter[tuple[str, str]] = field(default_factory=Counter)
    dispatch: DispatchSummary = field(default_factory=DispatchSummary)
    ledger: str = ""
    policy: dict[str, Any] = field(default_factory=dict)
    as_of: str = ""
    seconds: float = 0.0

    @property
    def failed_now(self) -> bool:
        """Whether some action failed permanently, or was held, in this run (``run`` then exits 7)."""
        return bool(self.dispatch.failed_now)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready report."""
        return {"ledger": self.ledger, "policy": self.policy, "as_of": self.as_of, "accounts": self.accounts,
                "seconds": round(self.seconds, 3), "dispatch": self.dispatch.as_dict(),
                "suppressed": [{"channel": c, "reason": r, "count": n}
                               for (c, r), n in sorted(self.suppressed.items())]}


def channels_used(policy: PolicyFile) -> list[str]:
    """Every channel a policy can send on (stage actions and the broken-promise escalation)."""
    used = {a.channel for stage in policy.stages for a in stage.actions}
    if policy.escalation.broken_promise:
        used.add(policy.escalation.broken_promise.action.channel)
    return sorted(used)


def unconfigured_channels(policy: PolicyFile, registry: PluginRegistry,
                          config: str | Path | None) -> dict[str, list[str]]:
    """Channel -> required settings that are missing, for the channels the policy uses.

    ``run`` checks this before sending anything: a missing endpoint is a configuration error to fix,
    not hundreds of failed deliveries.
    """
    specs = registry.registered_channels()
    used = [c for c in channels_used(policy) if c in specs]
    settings = load_settings(used, config)
    missing = {c: missing_settings(specs[c], settings[c]) for c in used}
    return {c: m for c, m in missing.items() if m}


def settings_problems(policy: PolicyFile, registry: PluginRegistry, config: str | Path | None) -> list[str]:
    """What is wrong with the settings of the channels the policy uses, found before anything is sent:
    values of the wrong type (``timeout = "ten"``, ``concurrency = 0``), and an empty opt-out text on a
    channel where the policy requires an opt-out line."""
    specs = registry.registered_channels()
    used = [c for c in channels_used(policy) if c in specs]
    settings = load_settings(used, config)
    content = policy.guardrails.content
    opt_out_required = set(content.opt_out_required) if content is not None else set()
    problems: list[str] = []
    for channel in used:
        problems += control_problems(channel, settings[channel])
        problems += registry.settings_problems(specs[channel], settings[channel])
        if channel in opt_out_required:
            problems += opt_out_problems(channel, settings[channel])
    return problems


def rehearsal_clock(as_of: datetime) -> Callable[[], datetime]:
    """A clock that reads ``as_of`` when the run starts and then runs as the system clock does: a rehearsal
    against test sinks judges send_at and windows as if the run happened at ``as_of``."""
    started = time.monotonic()
    return lambda: as_of + timedelta(seconds=time.monotonic() - started)


def templates_of(policy: PolicyFile) -> TemplateStore:
    """The policy's `[templates]` as a template store: one source per template and locale, plus a
    language-less fallback in the policy's locale for accounts whose language has no text."""
    mapping: dict[str, dict[str, str]] = {}
    default_locale = policy.policy.locale
    for template_id, per_locale in sorted(policy.templates.items()):
        for locale, text in sorted(per_locale.items()):
            parts = {"txt": text.body}
            if text.subject:
                parts["subject"] = text.subject
            mapping[f"{template_id}.{locale}"] = parts
            # an account whose language has no text gets the policy's locale (else the first written)
            if locale == default_locale or template_id not in mapping:
                mapping[template_id] = parts
    return TemplateStore.from_mapping(mapping)


def history_with_ledger(files: HistoryIndex, ledger: Ledger) -> HistoryIndex:
    """File history plus every event the ledger recorded in earlier runs, each event once.

    A history file exported from the ledger and passed again with ``--history`` must not count its
    contacts twice against the caps, so ledger events already in the files are skipped.
    """
    for data in ledger.iter_history():
        event = HistoryEvent.model_validate(data)
        if not files.has(event):
            files.add(event)
    return files


def run_batch(engine: Engine, accounts: Iterable[Account], history: HistoryIndex, as_of: datetime, *,
              ledger: Ledger, registry: PluginRegistry | None = None, config: str | Path | None = None,
              retry: RetryPolicy | None = None, clock: Callable[[], datetime] | None = None,
              progress: DispatchProgress | None = None) -> BatchReport:
    """Decide every account and dispatch the planned actions exactly once; returns the run report.

    ``clock`` is the wall clock dispatch judges ``send_at`` and ``not_after`` by (default: the ledger's,
    the system clock); :func:`rehearsal_clock` makes a rehearsal at ``as_of``.
    """
    started = time.perf_counter()
    policy = engine.policy
    report = BatchReport(ledger=ledger.url, policy=dict(engine.loaded.stamp()), as_of=as_of.isoformat())

    def decided() -> Iterator[tuple[Account, Decision]]:
        for account, decision in engine.decide_many(accounts, history, as_of):
            report.accounts += 1
            for suppression in decision.suppressed:
                report.suppressed[(suppression.channel, suppression.reason)] += 1
            yield account, decision

    context: dict[str, Any] = {
        "bank": policy.bank.model_dump(exclude_none=True) if policy.bank else {},
        "offers": {o.id: o.model_dump(exclude_none=True, exclude={"when"}) for o in policy.offers},
        "locale": policy.policy.locale,
    }
    dispatcher = Dispatcher(ledger=ledger, registry=registry, templates=templates_of(policy), context=context,
                            config=config, retry=retry, clock=clock, progress=progress,
                            task_limits=TaskLimitsBuilder(engine, history, ledger))
    report.dispatch = dispatcher.dispatch(decided())
    report.seconds = time.perf_counter() - started
    return report
