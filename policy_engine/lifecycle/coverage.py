"""Rule coverage of a policy's test suite: which segments, stages, actions, offers, holds and guardrails
no test exercised.

The rules of a policy are every segment, stage, action (including the broken-promise escalation action),
offer and hold of the effective policy (baselines included), plus one ``guardrail`` rule per suppression
reason the policy can produce given its guardrails and actions:

=========================  ===========================================================================
reason                     the policy can produce it when
=========================  ===========================================================================
``quiet_hours``            contact hours (or channel hours) cover a call, text or email action's channel
``holiday``                a holiday calendar, extra holidays or days off are set (and an action calls,
                           texts, emails or assigns an agent)
``frequency_cap``          a rolling cap or an after-conversation pause covers an action's channel
``daily_cap``              ``max_contacts_per_day`` is set (and an action's channel counts as an attempt)
``hold``                   the policy has holds that cover an action's channel
``no_consent``             an action uses a channel that needs consent (or whose unknown consent is set)
``no_contact_point``       an action uses a channel that needs a contact point (phone, email, address)
``missing_notice``         an action ``requires`` a notice
``notice_waiting_period``  an action ``requires`` a notice delivered at least N > 0 days ago
``cadence``                an action has ``every_days`` or ``at_most``
``already_sent``           an action has any cadence (``once``, ``every_days``, ``at_most``)
``promise_active``         ``pause_while_promise_active`` is set (and the policy has stage actions)
``time_barred``            ``legal.time_barred_after_days`` is set and an action uses a legal channel
=========================  ===========================================================================

A decision exercises its segment and stage, every action it plans or suppresses, every offer attached to
an action or listed as eligible, every active hold, and the guardrail of every suppression reason.
Percent = floor(100 * covered / total) — never rounded up; 100 when a policy has no rules at all.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from policy_engine.decide.decision import Decision
from policy_engine.guardrails import FAMILIES, PolicyUse, Reason
from policy_engine.guardrails.base import ChannelIndex
from policy_engine.policy.channels import BUILTIN_CHANNELS, ChannelKind, ChannelSpec
from policy_engine.policy.loader import LoadedPolicy

__all__ = ["KINDS", "Coverage", "Rule", "exercised_by", "guardrail_reasons", "measure", "policy_rules"]

KINDS = ("segment", "stage", "action", "offer", "hold", "guardrail")
"""Rule kinds, in the order they are listed."""

NO_SEGMENT = "none"


@dataclass(frozen=True, order=True)
class Rule:
    """One coverable rule: its kind (see :data:`KINDS`) and id (for guardrails: the reason code)."""

    kind: str
    id: str

    def __str__(self) -> str:
        return f"{self.kind} {self.id}"


def _channel(loaded: LoadedPolicy, name: str) -> ChannelSpec:
    return loaded.channels.get(name) or BUILTIN_CHANNELS.get(name) or ChannelSpec(name, ChannelKind.TEXT)


def policy_use(loaded: LoadedPolicy) -> PolicyUse:
    """What the policy's actions use: the actions, their channels (escalation included), prerequisites."""
    policy = loaded.policy
    actions = tuple(action for stage in policy.stages for action in stage.actions)
    channels = [_channel(loaded, action.channel) for action in actions]
    if policy.escalation.broken_promise is not None:
        channels.append(_channel(loaded, policy.escalation.broken_promise.action.channel))
    requires = tuple(requirement for action in actions for requirement in action.requires)
    return PolicyUse(policy, actions, tuple(channels), requires, ChannelIndex(loaded.channels))


def guardrail_reasons(loaded: LoadedPolicy) -> list[str]:
    """The suppression reasons this policy can produce, in the documented guardrail vocabulary order.

    A reason counts only when a guardrail that produces it is set *and* some action uses a channel it
    applies to (quiet hours apply to calls, texts and emails; caps to channels that count as attempts; ...).
    Each guardrail family says which of its reasons can fire.
    """
    use = policy_use(loaded)
    possible: set[Reason] = set()
    for family in FAMILIES:
        possible |= family.can_fire(use)
    return [reason.value for reason in Reason if reason in possible]


def policy_rules(loaded: LoadedPolicy) -> list[Rule]:
    """Every coverable rule of the effective policy, by kind then in policy order, without duplicates."""
    p = loaded.policy
    rules: list[Rule] = []
    rules += [Rule("segment", s.id) for s in p.segments]
    rules += [Rule("stage", s.id) for s in p.stages]
    rules += [Rule("action", a.id) for s in p.stages for a in s.actions]
    if p.escalation.broken_promise is not None:
        rules.append(Rule("action", p.escalation.broken_promise.action.id))
    rules += [Rule("offer", o.id) for o in p.offers]
    rules += [Rule("hold", h.id) for h in p.holds]
    rules += [Rule("guardrail", r) for r in guardrail_reasons(loaded)]
    return list(dict.fromkeys(rules))


def exercised_by(decision: Decision) -> set[Rule]:
    """The rules one decision exercises (some may not be rules of the policy, e.g. plugin reasons)."""
    hit: set[Rule] = set()
    if decision.segment and decision.segment != NO_SEGMENT:
        hit.add(Rule("segment", decision.segment))
    if decision.stage:
        hit.add(Rule("stage", decision.stage))
    for a in decision.actions:
        hit.add(Rule("action", a.action))
        if a.offer and a.offer.get("id"):
            hit.add(Rule("offer", str(a.offer["id"])))
    for s in decision.suppressed:
        hit.add(Rule("action", s.action))
        hit.add(Rule("guardrail", s.reason))
    hit.update(Rule("offer", o) for o in decision.offers)
    hit.update(Rule("hold", h) for h in decision.holds)
    return hit


@dataclass
class Coverage:
    """Which of a policy's rules its tests exercised."""

    rules: tuple[Rule, ...]
    covered: frozenset[Rule] = field(default_factory=frozenset)

    @property
    def total(self) -> int:
        """How many rules the policy has."""
        return len(self.rules)

    @property
    def hit(self) -> int:
        """How many of them some test exercised."""
        return sum(1 for r in self.rules if r in self.covered)

    @property
    def percent(self) -> int:
        """floor(100 * hit / total); 100 for a policy without rules."""
        return 100 if not self.rules else (100 * self.hit) // self.total

    def uncovered(self) -> list[Rule]:
        """The rules no test exercised, by kind then in policy order."""
        return [r for r in self.rules if r not in self.covered]

    def uncovered_by_kind(self) -> dict[str, list[str]]:
        """Uncovered rule ids grouped by kind (only kinds with something uncovered), in :data:`KINDS` order."""
        out: dict[str, list[str]] = {}
        for r in self.uncovered():
            out.setdefault(r.kind, []).append(r.id)
        return {k: out[k] for k in KINDS if k in out}

    def meets(self, threshold: float) -> bool:
        """True when the (floored) percent is at least ``threshold``."""
        return self.percent >= threshold

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {"percent": self.percent, "covered": self.hit, "total": self.total,
                "uncovered": self.uncovered_by_kind()}


def measure(loaded: LoadedPolicy, decisions: Iterable[Decision]) -> Coverage:
    """The coverage of ``loaded`` by the given decisions (typically one per test case, or per simulated day)."""
    rules = tuple(policy_rules(loaded))
    known = set(rules)
    hit: set[Rule] = set()
    for d in decisions:
        hit |= exercised_by(d) & known
    return Coverage(rules, frozenset(hit))
