"""Consent and contact points: a channel is used only with the customer's contact point on file and
without a refusal of consent.

A channel declares which contact point it needs (phone, e-mail, postal address) and which ``consent.*``
field governs it. The latest consent event in the history wins over the record. What unknown consent
means is the policy's choice per channel (``unknown_consent``): once a baseline says ``deny``, a policy
extending it cannot say ``allow``. A contact point known to be at the customer's workplace is not used where
the baseline says so (``avoid_workplace``: Reg F 1006.22(f)(3) for e-mail, 1006.6(b)(3) for calls).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from policy_engine.guardrails.base import (
    Candidate,
    GuardrailFamily,
    GuardrailState,
    PolicyUse,
    Reason,
    RelationalPlan,
    SqlCheck,
    Verdict,
    suppress,
)
from policy_engine.guardrails.sql import text
from policy_engine.guardrails.words import GROUPS
from policy_engine.policy.origins import OriginKey

if TYPE_CHECKING:
    from policy_engine.guardrails.base import OriginRecorder
    from policy_engine.policy.checks import PolicyChecker
    from policy_engine.policy.merge import Tightening
    from policy_engine.policy.source import SourceFile

__all__ = ["CONSENT", "Consent", "unknown_consent_key"]


AVOID_WORKPLACE = OriginKey("avoid_workplace")


def unknown_consent_key(channel: str) -> OriginKey:
    """The origin key of the unknown-consent rule of one channel."""
    return OriginKey("unknown_consent", channel)


class Consent(GuardrailFamily):
    """``no_contact_point`` and ``no_consent``."""

    name = "consent"
    reasons = (Reason.NO_CONSENT, Reason.NO_CONTACT_POINT)
    has_row_check = True
    settings = frozenset({"unknown_consent", "avoid_workplace"})
    group = GROUPS[2]

    def record_origins(self, source: SourceFile, record: OriginRecorder) -> None:
        """Each unknown-consent rule the file writes."""
        for channel in source.model.guardrails.unknown_consent:
            record(unknown_consent_key(channel), "guardrails", "unknown_consent", channel)
        if "avoid_workplace" in source.model.guardrails.model_fields_set:
            record(AVOID_WORKPLACE, "guardrails", "avoid_workplace")

    def tighten(self, merge: Tightening) -> None:
        """``deny`` wins over ``allow``."""
        base, child = merge.base.guardrails, merge.child.model.guardrails
        consent = dict(base.unknown_consent)
        for channel, rule in child.unknown_consent.items():
            if base.unknown_consent.get(channel) == "deny" and rule == "allow":
                merge.loosens(unknown_consent_key(channel), ("guardrails", "unknown_consent", channel),
                              f"treats unknown {channel} consent as 'allow'; {{base}} requires 'deny'")
            consent[channel] = "deny" if "deny" in (rule, consent.get(channel)) else rule
        merge.guardrails["unknown_consent"] = consent
        merge.guardrails["avoid_workplace"] = sorted(set(base.avoid_workplace) | set(child.avoid_workplace))

    def check(self, candidate: Candidate, state: GuardrailState) -> Verdict | None:
        """The contact point must be on file; consent must not be refused (or unknown where unknown is no)."""
        info = state.info(candidate.channel)
        contact = state.ctx.account.contact
        if info.contact_point and not getattr(contact, info.contact_point, None):
            return suppress(candidate, Reason.NO_CONTACT_POINT,
                            f"no {info.contact_point} on file for {candidate.channel}")
        point = info.contact_point
        if point in state.guardrails.avoid_workplace and getattr(contact, f"{point}_at_work", False):
            return suppress(candidate, Reason.NO_CONTACT_POINT,
                            f"the {point} on file is at the customer's workplace; {candidate.channel} does not "
                            "use it", state.source(AVOID_WORKPLACE))
        unknown = state.guardrails.unknown_consent
        key = info.consent_key or (candidate.channel if candidate.channel in unknown else None)
        if key:
            consent = state.ctx.consent(key)
            if consent is False:
                return suppress(candidate, Reason.NO_CONSENT, f"the customer refused or revoked {key} consent")
            if consent is None and unknown.get(key) == "deny":
                return suppress(candidate, Reason.NO_CONSENT,
                                f"{key} consent is unknown and the policy treats unknown as no",
                                state.source(unknown_consent_key(key)))
        return None

    def relational(self, candidate: Candidate, plan: RelationalPlan) -> list[SqlCheck]:
        """The contact point on file (not at the workplace where that is avoided), then consent."""
        info = plan.channels.info(candidate.channel)
        checks: list[SqlCheck] = []
        point = info.contact_point
        if point:
            checks.append(SqlCheck(f"contact_{point} IS NULL", Reason.NO_CONTACT_POINT,
                                   text(f"no {point} on file for {candidate.channel}")))
        if point in plan.guardrails.avoid_workplace and point in ("phone", "email"):
            checks.append(SqlCheck(f"contact_{point}_at_work", Reason.NO_CONTACT_POINT,
                                   text(f"the {point} on file is at the customer's workplace; {candidate.channel} "
                                        "does not use it"), plan.source(AVOID_WORKPLACE)))
        unknown = plan.guardrails.unknown_consent
        key = info.consent_key or (candidate.channel if candidate.channel in unknown else None)
        if key:
            consent = plan.facts.consent(key)
            checks.append(SqlCheck(f"{consent} = FALSE", Reason.NO_CONSENT,
                                   text(f"the customer refused or revoked {key} consent")))
            if unknown.get(key) == "deny":
                checks.append(SqlCheck(f"{consent} IS NULL", Reason.NO_CONSENT,
                                       text(f"{key} consent is unknown and the policy treats unknown as no"),
                                       plan.source(unknown_consent_key(key))))
        return checks

    def can_fire(self, use: PolicyUse) -> set[Reason]:
        """``no_consent`` for a channel that needs consent; ``no_contact_point`` for one that needs a contact."""
        reasons: set[Reason] = set()
        unknown = use.policy.guardrails.unknown_consent
        if any(info.consent_key or info.name in unknown for info in use.channels):
            reasons.add(Reason.NO_CONSENT)
        if any(info.contact_point for info in use.channels):
            reasons.add(Reason.NO_CONTACT_POINT)
        return reasons

    def check_policy(self, checker: PolicyChecker) -> None:
        """The channels named in ``unknown_consent`` exist."""
        for channel in checker.own.guardrails.unknown_consent:
            checker.channel(channel, ("guardrails", "unknown_consent", channel))


CONSENT = Consent()
