"""What a report shows, gathered from decisions: one :class:`PolicyReport` per policy.

Without ``days`` every account is decided once at ``as_of``; with ``days`` it is simulated for that many
local days from the local date and wall time of ``as_of`` in the first policy's time zone. Accounts are
streamed; only the sampled accounts' timelines are kept. The sample is deterministic: the ``sample``
accounts whose SHA-256 of ``account_id`` is smallest, whatever the input order.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, time
from typing import Any

from policy_engine.data.history import HistoryIndex
from policy_engine.data.records import Account, HistoryEvent
from policy_engine.decide.decision import Decision
from policy_engine.decide.engine import Engine
from policy_engine.lifecycle.simulate import SimContact, SimEvent, channel_info, simulate, start_of

__all__ = ["PolicyReport", "TimelineRow", "collect_reports", "sample_key"]

NO_STAGE = "(no stage)"
NO_SEGMENT = "(no segment)"
OUT_OF_SCOPE = "(out of scope)"


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


@dataclass
class PolicyReport:
    """Everything the report shows for one policy."""

    stamp: dict[str, str | None]
    meta: dict[str, str]
    as_of: datetime
    days: int | None
    accounts: int = 0
    portfolio: Counter[tuple[str, str]] = field(default_factory=Counter)
    holds: Counter[str] = field(default_factory=Counter)
    variants: Counter[str] = field(default_factory=Counter)
    per_day: dict[date, Counter[str]] = field(default_factory=dict)
    suppressed: Counter[str] = field(default_factory=Counter)
    offers_made: Counter[str] = field(default_factory=Counter)
    offers_eligible: Counter[str] = field(default_factory=Counter)
    legal_referrals: int = 0
    stage_order: list[str] = field(default_factory=list)
    segment_order: list[str] = field(default_factory=list)
    timelines: dict[str, list[TimelineRow]] = field(default_factory=dict)

    @property
    def channels(self) -> Counter[str]:
        """Planned actions per channel over the whole span."""
        total: Counter[str] = Counter()
        for counts in self.per_day.values():
            total.update(counts)
        return total


def _meta(engine: Engine) -> dict[str, str]:
    p = engine.policy.policy
    loaded = engine.loaded
    data = {"id": p.id, "version": p.version, "title": p.title, "description": p.description,
            "jurisdiction": p.jurisdiction, "owner": p.owner, "timezone": p.timezone, "currency": p.currency,
            "locale": p.locale, "extends": ", ".join(p.extends), "digest": loaded.digest,
            "file": loaded.source.display, "chain": " → ".join(src.display for src in loaded.chain)}
    return {k: str(v) for k, v in data.items() if v}


def _event_text(e: HistoryEvent) -> str:
    parts = [e.type] + [str(x) for x in (e.channel, e.amount, e.outcome) if x is not None]
    return " ".join(parts)


def _row(day: int, local: date, d: Decision, contacts: Iterable[SimContact] | None,
         events: Iterable[HistoryEvent], zone: Any) -> TimelineRow:
    outcomes = {c.planned.idempotency_key: c.event.outcome for c in contacts or ()}
    actions = tuple((a.action, a.channel, a.send_at.astimezone(zone).strftime("%H:%M"),
                     outcomes.get(a.idempotency_key), (a.offer or {}).get("id")) for a in d.actions)
    return TimelineRow(day, local, d.dpd, d.stage, d.segment, tuple(d.holds), actions,
                       tuple((s.action, s.reason, s.detail) for s in d.suppressed),
                       tuple(_event_text(e) for e in events))


class _Collector:
    """Accumulates one policy's report, account by account."""

    def __init__(self, engine: Engine, as_of: datetime, days: int | None) -> None:
        self.engine = engine
        p = engine.policy
        self.report = PolicyReport(engine.loaded.stamp(), _meta(engine), as_of, days,
                                   stage_order=[s.id for s in p.stages] + [NO_STAGE, OUT_OF_SCOPE],
                                   segment_order=[s.id for s in p.segments] + [NO_SEGMENT, OUT_OF_SCOPE])

    def steps(self, account: Account, history: HistoryIndex,
              window: tuple[date, time, int] | None) -> list[SimEvent]:
        """The account's evaluations: one at ``as_of``, or one per simulated day."""
        if window is None:
            as_of = self.report.as_of
            zone = self.engine.zone_of(account)
            d = self.engine.decide(account, history.for_account(account.account_id), as_of)
            return [SimEvent(account, 0, as_of.astimezone(zone).date(), as_of, d)]
        start, at, days = window
        return list(simulate(self.engine, [account], history, start, days, at))

    def add(self, steps: list[SimEvent]) -> None:
        """Count one account's evaluations."""
        r = self.report
        first = steps[0].decision
        r.accounts += 1
        if first.in_scope:
            r.portfolio[(first.stage or NO_STAGE, first.segment or NO_SEGMENT)] += 1
        else:  # accounts the policy's applies_to leaves alone
            r.portfolio[(OUT_OF_SCOPE, OUT_OF_SCOPE)] += 1
        r.holds.update(first.holds)
        r.offers_eligible.update(first.offers)
        if first.variant:
            r.variants[first.variant] += 1
        for step in steps:
            per_day = r.per_day.setdefault(step.date, Counter())
            for a in step.decision.actions:
                per_day[a.channel] += 1
                if a.offer:
                    r.offers_made[str(a.offer.get("id"))] += 1
                if channel_info(self.engine, a.channel).kind == "legal":
                    r.legal_referrals += 1
            r.suppressed.update(s.reason for s in step.decision.suppressed)

    def timeline(self, steps: list[SimEvent]) -> list[TimelineRow]:
        """The sampled account's rows."""
        zone = self.engine.zone_of(steps[0].account)
        return [_row(s.day, s.date, s.decision, s.contacts, s.arrived, zone) for s in steps]


def collect_reports(engines: list[Engine], accounts: Iterable[Account], history: HistoryIndex | None,
                    as_of: datetime, days: int | None = None, sample: int = 6) -> list[PolicyReport]:
    """Decide (or simulate) every account under each policy; return one report per policy, same sample."""
    if not engines:
        raise ValueError("collect_reports needs at least one policy")
    index = history if history is not None else HistoryIndex()
    window = (*start_of(as_of, engines[0].zone), days) if days is not None else None
    collectors = [_Collector(e, as_of, days) for e in engines]
    kept: dict[str, list[list[TimelineRow]]] = {}
    for account in accounts:
        key = sample_key(account.account_id)
        keep = sample > 0 and (len(kept) < sample or key < max(sample_key(k) for k in kept))
        rows = []
        for c in collectors:
            steps = c.steps(account, index, window)
            c.add(steps)
            if keep:
                rows.append(c.timeline(steps))
        if keep:
            kept[account.account_id] = rows
            if len(kept) > sample:
                del kept[max(kept, key=sample_key)]
    chosen = sorted(kept, key=sample_key)
    for i, c in enumerate(collectors):
        c.report.timelines = {account_id: kept[account_id][i] for account_id in chosen}
    return [c.report for c in collectors]
