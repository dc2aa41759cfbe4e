"""Compare two policies decision by decision: which accounts change, contacts added and removed, new
suppressions; over a simulated span, contacts per channel per week, legal referrals and offers made;
and, for a policy that declares champion/challenger variants, the variants within it.

At one instant (``days=None``) every account is decided at ``as_of`` by both policies. Over a span
(``days=N``) both policies are simulated (:func:`policy_engine.lifecycle.simulate.simulate`) for N local days from
the local date and wall time of ``as_of`` in the base policy's time zone. With the row engine accounts are
streamed: each one is decided (or simulated) by both policies before the next is read; with the columnar
backend each policy decides the whole portfolio at once (:mod:`policy_engine.lifecycle.evaluations`).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from policy_engine.data.history import HistoryIndex
from policy_engine.data.records import Account
from policy_engine.decide.decision import Decision
from policy_engine.decide.engine import Engine
from policy_engine.lifecycle.evaluations import evaluations_per_policy
from policy_engine.lifecycle.simulate import SimEvent, channel_info, start_of

__all__ = ["AccountChange", "DiffResult", "Tally", "diff_policies"]

Day = tuple[int, Decision]  # (0-based simulated day, decision); day 0 only at one instant


def _sorted(counter: Counter[str]) -> dict[str, int]:
    return {k: v for k, v in sorted(counter.items()) if v}


@dataclass
class Tally:
    """What one policy (or one variant of it) does to the accounts it decides."""

    accounts: int = 0
    accounts_contacted: int = 0
    contacts: Counter[str] = field(default_factory=Counter)
    suppressed: Counter[str] = field(default_factory=Counter)
    legal_referrals: int = 0
    offers: Counter[str] = field(default_factory=Counter)
    weekly: dict[int, Counter[str]] = field(default_factory=dict)

    def add(self, engine: Engine, days: list[Day], span: bool) -> None:
        """Count one account's decisions."""
        self.accounts += 1
        self.accounts_contacted += any(d.actions for _, d in days)
        for day, d in days:
            for a in d.actions:
                self.contacts[a.channel] += 1
                if span:
                    self.weekly.setdefault(day // 7 + 1, Counter())[a.channel] += 1
                if channel_info(engine, a.channel).kind == "legal":
                    self.legal_referrals += 1
                if a.offer:
                    self.offers[str(a.offer.get("id"))] += 1
            for s in d.suppressed:
                self.suppressed[s.reason] += 1

    def to_dict(self, span: bool) -> dict[str, Any]:
        """JSON-ready counts, keys sorted."""
        data: dict[str, Any] = {
            "accounts": self.accounts, "accounts_contacted": self.accounts_contacted,
            "contacts": _sorted(self.contacts), "suppressed": _sorted(self.suppressed),
            "legal_referrals": self.legal_referrals, "offers": _sorted(self.offers)}
        if span:
            data["contacts_per_week"] = {str(w): _sorted(c) for w, c in sorted(self.weekly.items())}
        return data


@dataclass(frozen=True)
class AccountChange:
    """An account whose actions differ: what the candidate adds and removes (``action@channel`` -> count)."""

    account_id: str
    added: dict[str, int]
    removed: dict[str, int]
    base_stage: str | None
    candidate_stage: str | None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready change."""
        return {"account_id": self.account_id, "base_stage": self.base_stage,
                "candidate_stage": self.candidate_stage, "added": self.added, "removed": self.removed}


@dataclass
class DiffResult:
    """The impact of replacing the base policy by the candidate."""

    base: dict[str, str | None]
    candidate: dict[str, str | None]
    as_of: datetime
    days: int | None
    base_tally: Tally = field(default_factory=Tally)
    candidate_tally: Tally = field(default_factory=Tally)
    changes: list[AccountChange] = field(default_factory=list)
    contacts_added: Counter[str] = field(default_factory=Counter)
    contacts_removed: Counter[str] = field(default_factory=Counter)
    new_suppressions: Counter[str] = field(default_factory=Counter)
    lifted_suppressions: Counter[str] = field(default_factory=Counter)
    base_variants: dict[str, Tally] | None = None
    candidate_variants: dict[str, Tally] | None = None

    @property
    def accounts(self) -> int:
        """How many accounts were compared."""
        return self.base_tally.accounts

    def to_dict(self) -> dict[str, Any]:
        """The JSON document of ``diff --format json`` (deterministic: every mapping sorted)."""
        span = self.days is not None
        data: dict[str, Any] = {
            "base": self.base, "candidate": self.candidate, "as_of": self.as_of.isoformat(),
            "days": self.days, "accounts": self.accounts, "accounts_changed": len(self.changes),
            "contacts_added": _sorted(self.contacts_added),
            "contacts_removed": _sorted(self.contacts_removed),
            "new_suppressions": _sorted(self.new_suppressions),
            "lifted_suppressions": _sorted(self.lifted_suppressions),
            "totals": {"base": self.base_tally.to_dict(span),
                       "candidate": self.candidate_tally.to_dict(span)},
            "changes": [c.to_dict() for c in self.changes],
        }
        variants: dict[str, Any] = {}
        for side, tallies in (("base", self.base_variants), ("candidate", self.candidate_variants)):
            if tallies is not None:
                variants[side] = {v: t.to_dict(span) for v, t in sorted(tallies.items())}
        if variants:
            data["variants"] = variants
        return data


def _days(steps: list[SimEvent]) -> list[Day]:
    return [(step.day, step.decision) for step in steps]


def _actions(days: list[Day]) -> Counter[tuple[str, str]]:
    return Counter((a.action, a.channel) for _, d in days for a in d.actions)


def _schedule(days: list[Day]) -> list[list[tuple[str, str]]]:
    return [sorted((a.action, a.channel) for a in d.actions) for _, d in days]


def _suppressions(days: list[Day]) -> Counter[tuple[int, str, str]]:
    return Counter((day, s.action, s.reason) for day, d in days for s in d.suppressed)


def _per_channel(actions: Counter[tuple[str, str]]) -> Counter[str]:
    out: Counter[str] = Counter()
    for (_, channel), n in actions.items():
        out[channel] += n
    return out


def _per_reason(suppressions: Counter[tuple[int, str, str]]) -> Counter[str]:
    out: Counter[str] = Counter()
    for (_, _, reason), n in suppressions.items():
        out[reason] += n
    return out


def _variant_tallies(engine: Engine) -> dict[str, Tally] | None:
    variants = engine.policy.variants
    return {v.id: Tally() for v in variants} if variants else None


def diff_policies(base: Engine, candidate: Engine, accounts: Iterable[Account], history: HistoryIndex | None,
                  as_of: datetime, days: int | None = None) -> DiffResult:
    """Decide (or, with ``days``, simulate) every account under both policies and compare."""
    index = history if history is not None else HistoryIndex()
    result = DiffResult(base.loaded.stamp(), candidate.loaded.stamp(), as_of, days,
                        base_variants=_variant_tallies(base), candidate_variants=_variant_tallies(candidate))
    span = days is not None
    window = (*start_of(as_of, base.zone), days) if days is not None else None
    for base_steps, candidate_steps in evaluations_per_policy([base, candidate], accounts, index, as_of, window):
        account_id = base_steps[0].account.account_id
        b, c = _days(base_steps), _days(candidate_steps)
        result.base_tally.add(base, b, span)
        result.candidate_tally.add(candidate, c, span)
        sides = ((base, result.base_variants, b), (candidate, result.candidate_variants, c))
        for engine, tallies, decided in sides:
            variant = decided[0][1].variant
            if tallies is not None and variant is not None:
                tallies[variant].add(engine, decided, span)
        _compare(result, account_id, b, c)
    return result


def _keyed(actions: Counter[tuple[str, str]]) -> dict[str, int]:
    return {f"{a}@{ch}": n for (a, ch), n in sorted(actions.items())}


def _compare(result: DiffResult, account_id: str, base_days: list[Day], candidate_days: list[Day]) -> None:
    before, after = _actions(base_days), _actions(candidate_days)
    if _schedule(base_days) != _schedule(candidate_days):
        result.changes.append(AccountChange(account_id, _keyed(after - before), _keyed(before - after),
                                            base_days[0][1].stage, candidate_days[0][1].stage))
    channels_b, channels_c = _per_channel(before), _per_channel(after)
    result.contacts_added.update(channels_c - channels_b)
    result.contacts_removed.update(channels_b - channels_c)
    sup_b, sup_c = _suppressions(base_days), _suppressions(candidate_days)
    result.new_suppressions.update(_per_reason(sup_c - sup_b))
    result.lifted_suppressions.update(_per_reason(sup_b - sup_c))
