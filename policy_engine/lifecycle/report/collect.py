"""What a report shows, gathered from decisions: one :class:`PolicyReport` per policy.

Without ``days`` every account is decided once at ``as_of``; with ``days`` it is simulated for that many
local days from the local date and wall time of ``as_of`` in the first policy's time zone. Accounts are
streamed (with the columnar backend each policy decides the whole portfolio at once, see
:mod:`policy_engine.lifecycle.evaluations`); only the sampled accounts' timelines and the legal referrals are
kept.

Rules the numbers keep:

- Accounts outside a policy's scope (``policy.applies_to``) are one count, :attr:`PolicyReport.out_of_scope`,
  and appear in no chart, table or timeline.
- The sample is deterministic: the ``sample`` in-scope accounts (of the first policy) whose SHA-256 of
  ``account_id`` is smallest, whatever the input order.
- Contact intensity, per customer and channel kind (call, text, email, letter): the most contacts in any
  :data:`WINDOW_DAYS` consecutive local days ending on a day of the span, counting the contacts the
  history already records (from :data:`WINDOW_DAYS` - 1 days before the span) and those the policy makes.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from policy_engine.data.history import HistoryIndex
from policy_engine.data.records import Account, HistoryEvent
from policy_engine.decide.decision import Decision
from policy_engine.decide.engine import Engine
from policy_engine.guardrails.base import contact_kind
from policy_engine.lifecycle.evaluations import evaluations_per_policy
from policy_engine.lifecycle.simulate import SimContact, SimEvent, channel_info, start_of

__all__ = ["WINDOW_DAYS", "LegalReferral", "PolicyReport", "TimelineRow", "collect_reports", "sample_key"]

NO_STAGE = "(no stage)"
NO_SEGMENT = "(no segment)"
WINDOW_DAYS = 7
"""The window of the contact-intensity measure: the most contacts a customer gets in any 7 days."""
ALL_KINDS = "all contacts"


def sample_key(account_id: str) -> str:
    """The sort key of the deterministic account sample."""
    return hashlib.sha256(account_id.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class TimelineRow:
    """One evaluation of a sampled account, as the report lists it."""

    day: int
    date: date
    dpd: int
    stage: str | None
    segment: str | None
    holds: tuple[str, ...]
    actions: tuple[tuple[str, str, str, str | None, str | None], ...]
    """(action, channel, local HH:MM, outcome, offer id)."""
    suppressed: tuple[tuple[str, str, str], ...]
    """(action, reason, detail)."""
    events: tuple[str, ...]


@dataclass(frozen=True)
class LegalReferral:
    """One action on a legal channel: who, when, which action, at which stage and DPD."""

    account_id: str
    date: date
    action: str
    channel: str
    stage: str | None
    dpd: int


@dataclass
class PolicyReport:
    """Everything the report shows for one policy."""

    stamp: dict[str, str | None]
    meta: dict[str, str]
    as_of: datetime
    days: int | None
    engine: Engine | None = None
    accounts: int = 0
    """Accounts read (in scope or not)."""
    out_of_scope: int = 0
    portfolio: Counter[tuple[str, str]] = field(default_factory=Counter)
    holds: Counter[str] = field(default_factory=Counter)
    variants: Counter[str] = field(default_factory=Counter)
    per_day: dict[date, Counter[str]] = field(default_factory=dict)
    suppressed: Counter[str] = field(default_factory=Counter)
    offers_made: Counter[str] = field(default_factory=Counter)
    offers_eligible: Counter[str] = field(default_factory=Counter)
    legal: list[LegalReferral] = field(default_factory=list)
    intensity: dict[str, Counter[int]] = field(default_factory=dict)
    """Channel kind (and :data:`ALL_KINDS`) -> how many customers had N as their most contacts in any
    :data:`WINDOW_DAYS` days (customers with no contact of that kind are not counted)."""
    most_contacted: dict[str, tuple[int, str]] = field(default_factory=dict)
    """Channel kind -> (the highest such count, the first account, in input order, that had it)."""
    stage_order: list[str] = field(default_factory=list)
    segment_order: list[str] = field(default_factory=list)
    timelines: dict[str, list[TimelineRow]] = field(default_factory=dict)

    @property
    def in_scope(self) -> int:
        """Accounts the policy governs."""
        return self.accounts - self.out_of_scope

    @property
    def legal_referrals(self) -> int:
        """Actions on legal channels over the whole span."""
        return len(self.legal)

    @property
    def channels(self) -> Counter[str]:
        """Planned actions per channel over the whole span."""
        total: Counter[str] = Counter()
        for counts in self.per_day.values():
            total.update(counts)
        return total


def _meta(engine: Engine) -> dict[str, str]:
    metadata = engine.policy.policy
    loaded = engine.loaded
    data = {"id": metadata.id, "version": metadata.version, "title": metadata.title,
            "description": metadata.description, "jurisdiction": metadata.jurisdiction, "owner": metadata.owner,
            "timezone": metadata.timezone, "currency": metadata.currency, "locale": metadata.locale,
            "extends": ", ".join(metadata.extends), "digest": loaded.digest, "file": loaded.source.display,
            "chain": " → ".join(source.display for source in loaded.chain)}
    return {key: str(value) for key, value in data.items() if value}


def _event_text(event: HistoryEvent) -> str:
    parts = [event.type] + [str(part) for part in (event.channel, event.amount, event.outcome) if part is not None]
    return " ".join(parts)


def _row(day: int, local: date, decision: Decision, contacts: Iterable[SimContact] | None,
         events: Iterable[HistoryEvent], zone: Any) -> TimelineRow:
    outcomes = {contact.planned.idempotency_key: contact.event.outcome for contact in contacts or ()}
    actions = tuple((action.action, action.channel, action.send_at.astimezone(zone).strftime("%H:%M"),
                     outcomes.get(action.idempotency_key), (action.offer or {}).get("id"))
                    for action in decision.actions)
    return TimelineRow(day, local, decision.dpd, decision.stage, decision.segment, tuple(decision.holds), actions,
                       tuple((item.action, item.reason, item.detail) for item in decision.suppressed),
                       tuple(_event_text(event) for event in events))


def most_in_window(days: list[date], first: date, last: date, window: int = WINDOW_DAYS) -> int:
    """The most of ``days`` (one entry per contact) in any ``window`` consecutive days ending in
    ``first``..``last``."""
    best = 0
    counts = Counter(days)
    end = first
    while end <= last:
        best = max(best, sum(counts[end - timedelta(days=back)] for back in range(window)))
        end += timedelta(days=1)
    return best


class _Collector:
    """Accumulates one policy's report, account by account."""

    def __init__(self, engine: Engine, as_of: datetime, days: int | None) -> None:
        self.engine = engine
        policy = engine.policy
        self.report = PolicyReport(engine.loaded.stamp(), _meta(engine), as_of, days, engine,
                                   stage_order=[stage.id for stage in policy.stages] + [NO_STAGE],
                                   segment_order=[segment.id for segment in policy.segments] + [NO_SEGMENT])

    def add(self, steps: list[SimEvent], history: tuple[HistoryEvent, ...]) -> None:
        """Count one account's evaluations (nothing but the count when it is out of scope)."""
        report = self.report
        first = steps[0].decision
        report.accounts += 1
        if not first.in_scope:
            report.out_of_scope += 1
            return
        report.portfolio[(first.stage or NO_STAGE, first.segment or NO_SEGMENT)] += 1
        report.holds.update(first.holds)
        report.offers_eligible.update(first.offers)
        if first.variant:
            report.variants[first.variant] += 1
        for step in steps:
            per_day = report.per_day.setdefault(step.date, Counter())
            for action in step.decision.actions:
                per_day[action.channel] += 1
                if action.offer:
                    report.offers_made[str(action.offer.get("id"))] += 1
                if channel_info(self.engine, action.channel).kind == "legal":
                    report.legal.append(LegalReferral(step.account.account_id, step.date, action.action,
                                                      action.channel, step.decision.stage, step.decision.dpd))
            report.suppressed.update(item.reason for item in step.decision.suppressed)
        self._intensity(steps, history)

    def _intensity(self, steps: list[SimEvent], history: tuple[HistoryEvent, ...]) -> None:
        """The most contacts of each kind the customer gets in any window of the span."""
        zone = self.engine.zone_of(steps[0].account)
        first, last = steps[0].date, steps[-1].date
        since = first - timedelta(days=WINDOW_DAYS - 1)
        dates: dict[str, list[date]] = {}

        def count(channel: str | None, day: date) -> None:
            info = channel_info(self.engine, channel or "")
            if channel and info.counts_as_attempt and since <= day <= last:
                dates.setdefault(contact_kind(info), []).append(day)
                dates.setdefault(ALL_KINDS, []).append(day)

        for event in history:
            if event.type == "contact" and event.at <= steps[0].as_of:
                count(event.channel, event.at.astimezone(zone).date())
        for step in steps:
            for action in step.decision.actions:
                count(action.channel, action.send_at.astimezone(zone).date())
        account_id = steps[0].account.account_id
        for kind, days in dates.items():
            most = most_in_window(days, first, last)
            self.report.intensity.setdefault(kind, Counter())[most] += 1
            if most > self.report.most_contacted.get(kind, (0, ""))[0]:
                self.report.most_contacted[kind] = (most, account_id)

    def timeline(self, steps: list[SimEvent]) -> list[TimelineRow]:
        """The sampled account's rows."""
        zone = self.engine.zone_of(steps[0].account)
        return [_row(step.day, step.date, step.decision, step.contacts, step.arrived, zone) for step in steps]


def collect_reports(engines: list[Engine], accounts: Iterable[Account], history: HistoryIndex | None,
                    as_of: datetime, days: int | None = None, sample: int = 6) -> list[PolicyReport]:
    """Decide (or simulate) every account under each policy; return one report per policy, same sample."""
    if not engines:
        raise ValueError("collect_reports needs at least one policy")
    index = history if history is not None else HistoryIndex()
    window = (*start_of(as_of, engines[0].zone), days) if days is not None else None
    collectors = [_Collector(engine, as_of, days) for engine in engines]
    kept: dict[str, list[list[TimelineRow]]] = {}
    for per_policy in evaluations_per_policy(engines, accounts, index, as_of, window):
        account_id = per_policy[0][0].account.account_id
        events = tuple(index.for_account(account_id))
        for collector, steps in zip(collectors, per_policy, strict=True):
            collector.add(steps, events)
        key = sample_key(account_id)
        in_scope = per_policy[0][0].decision.in_scope
        if in_scope and sample > 0 and (len(kept) < sample or key < max(sample_key(k) for k in kept)):
            kept[account_id] = [collector.timeline(steps)
                                        for collector, steps in zip(collectors, per_policy, strict=True)]
            if len(kept) > sample:
                del kept[max(kept, key=sample_key)]
    chosen = sorted(kept, key=sample_key)
    for position, collector in enumerate(collectors):
        collector.report.timelines = {account_id: kept[account_id][position] for account_id in chosen}
    return [collector.report for collector in collectors]
