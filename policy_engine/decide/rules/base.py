"""The small interface both rule backends implement, and the rule table they are built from."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from policy_engine.policy.conditions import Condition

if TYPE_CHECKING:
    from policy_engine.decide.facts import FactContext
    from policy_engine.policy.models import PolicyFile

__all__ = ["NamedCondition", "RuleSet", "rules_of"]


@dataclass(frozen=True)
class NamedCondition:
    """One condition of the policy, named ``kind:id`` (segment:low_risk, stage:early, action:reminder_sms)."""

    name: str
    condition: Condition
    phase: str  # "segments" (evaluated first) or "rules" (may use the segment fact)


def rules_of(policy: PolicyFile) -> list[NamedCondition]:
    """Every conditional rule of a policy, in policy order; rules without a condition always hold."""
    rules: list[NamedCondition] = []
    if policy.policy.applies_to is not None:
        rules.append(NamedCondition("scope:policy", policy.policy.applies_to, "segments"))
    for seg in policy.segments:
        if seg.when is not None:
            rules.append(NamedCondition(f"segment:{seg.id}", seg.when, "segments"))
    for stage in policy.stages:
        if stage.when is not None:
            rules.append(NamedCondition(f"stage:{stage.id}", stage.when, "rules"))
        for action in stage.actions:
            if action.when is not None:
                rules.append(NamedCondition(f"action:{action.id}", action.when, "rules"))
    for offer in policy.offers:
        if offer.when is not None:
            rules.append(NamedCondition(f"offer:{offer.id}", offer.when, "rules"))
    for hold in policy.holds:
        rules.append(NamedCondition(f"hold:{hold.id}", hold.when, "rules"))
    return rules


class RuleSet(Protocol):
    """A compiled policy: which conditional rules hold for an account."""

    backend: str

    def match(self, ctx: FactContext, phase: str) -> frozenset[str]:
        """Names of the rules of ``phase`` whose condition holds for ``ctx``."""
        ...
