"""The guardrails: limits enforced whatever a policy's rules ask for, one family per module.

Every candidate action passes the row checks in this documented order; the first suppression stops it:

1. ``hold`` / ``promise_active``        (:mod:`.holds`)      contact must stop
2. ``time_barred``                      (:mod:`.legal`)      no legal action on time-barred debt
3. ``no_contact_point`` / ``no_consent`` (:mod:`.consent`)   the channel cannot be used for this customer
4. ``missing_notice`` / ``notice_waiting_period`` (:mod:`.notices`)  a prerequisite notice is absent or
   too recent
5. ``already_sent`` / ``cadence``       (:mod:`.cadence`)    the action ran today, or too recently
6. ``frequency_cap``                    (:mod:`.caps`)       rolling caps per channel and across channels,
   and the pause after a conversation (counting actions already chosen in the same decision)
7. ``quiet_hours`` / ``holiday``        (:mod:`.hours`)      ``send_at`` = earliest allowed instant today
8. ``daily_cap``                        (:mod:`.daily_cap`)  contacts per local day, highest priority first

:mod:`.content` (opt-out, limited-content voicemail) and :mod:`.installments` (longest plan) have no row
check: they tighten under ``extends`` and are validated. Candidates are processed in priority order
(1 first), so a more important action claims cap room first.

Adding a guardrail is one new module with a :class:`~.base.GuardrailFamily` and its entry in
:data:`FAMILIES`.
"""

from __future__ import annotations

from policy_engine.guardrails.base import Candidate, GuardrailFamily, GuardrailState, PolicyUse, Reason
from policy_engine.guardrails.cadence import CADENCE
from policy_engine.guardrails.caps import CAPS
from policy_engine.guardrails.consent import CONSENT
from policy_engine.guardrails.content import CONTENT, content_rules_for
from policy_engine.guardrails.daily_cap import DAILY_CAP
from policy_engine.guardrails.holds import HOLDS
from policy_engine.guardrails.hours import DAY_SENSITIVE, HOURS, TIME_SENSITIVE, contact_window, is_day_off
from policy_engine.guardrails.installments import INSTALLMENTS
from policy_engine.guardrails.legal import LEGAL
from policy_engine.guardrails.notices import NOTICES

__all__ = [
    "DAY_SENSITIVE",
    "FAMILIES",
    "REASONS",
    "ROW_CHECKS",
    "TIME_SENSITIVE",
    "Candidate",
    "GuardrailFamily",
    "GuardrailState",
    "PolicyUse",
    "Reason",
    "contact_window",
    "content_rules_for",
    "is_day_off",
]

FAMILIES: tuple[GuardrailFamily, ...] = (
    HOLDS, LEGAL, CONSENT, NOTICES, CADENCE, CAPS, HOURS, DAILY_CAP, CONTENT, INSTALLMENTS,
)
"""Every guardrail family; those with a row check run in this order."""

ROW_CHECKS: tuple[GuardrailFamily, ...] = tuple(family for family in FAMILIES if family.has_row_check)
"""The families that check candidate actions, in the documented order."""

REASONS: tuple[str, ...] = tuple(reason.value for reason in Reason)
"""The fixed vocabulary of suppression reasons."""
