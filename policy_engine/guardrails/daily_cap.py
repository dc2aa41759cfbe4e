"""The daily cap: at most N contacts per local day across all channels that count as contacts.

Contacts already made today (from the history) and actions already chosen in this decision both count;
candidates are taken in priority order, so the most important actions of the day go out first. Under
``extends`` the cap may only be lowered.
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
    counted,
    suppress,
)
from policy_engine.guardrails.sql import counted as counted_sql
from policy_engine.guardrails.sql import text
from policy_engine.guardrails.words import GROUPS
from policy_engine.policy.origins import OriginKey

if TYPE_CHECKING:
    from policy_engine.guardrails.base import OriginRecorder
    from policy_engine.policy.merge import Tightening
    from policy_engine.policy.source import SourceFile

__all__ = ["DAILY_CAP", "DailyCap"]

MAX_PER_DAY = OriginKey("max_contacts_per_day")


class DailyCap(GuardrailFamily):
    """``daily_cap``."""

    name = "daily_cap"
    reasons = (Reason.DAILY_CAP,)
    has_row_check = True
    settings = frozenset({"max_contacts_per_day"})
    group = GROUPS[1]

    def record_origins(self, source: SourceFile, record: OriginRecorder) -> None:
        """The daily cap, if the file sets one."""
        if "max_contacts_per_day" in source.model.guardrails.model_fields_set:
            record(MAX_PER_DAY, "guardrails", "max_contacts_per_day")

    def tighten(self, merge: Tightening) -> None:
        """The lower cap wins; a higher one is a loosening."""
        base = merge.base.guardrails.max_contacts_per_day
        child = merge.child.model.guardrails.max_contacts_per_day
        if child is not None and base is not None and child > base:
            merge.loosens(MAX_PER_DAY, ("guardrails", "max_contacts_per_day"),
                          f"raises max_contacts_per_day to {child}; {{base}} allows {base}")
        values = [value for value in (base, child) if value is not None]
        merge.guardrails["max_contacts_per_day"] = min(values) if values else None

    def check(self, candidate: Candidate, state: GuardrailState) -> Verdict | None:
        """Contacts made today plus those planned reach the cap: this one waits for another day."""
        limit = state.guardrails.max_contacts_per_day
        if limit is None or not state.info(candidate.channel).counts_as_attempt:
            return None
        done = state.ctx.view.contacts_today(None, excluding=state.channels.not_contacts)
        planned = state.chosen_attempts([])
        if done + planned >= limit:
            return suppress(candidate, Reason.DAILY_CAP, f"{counted(done, 'contact')} already today plus {planned} "
                            f"planned; at most {limit} per day (priority decides which go)", state.source(MAX_PER_DAY))
        return None

    def relational(self, candidate: Candidate, plan: RelationalPlan) -> list[SqlCheck]:
        """Contacts made today plus the contacts already chosen reach the cap."""
        limit = plan.guardrails.max_contacts_per_day
        if limit is None or not plan.channels.info(candidate.channel).counts_as_attempt:
            return []
        done = plan.facts.contacts(None, 1, excluding=plan.channels.not_contacts)
        planned = plan.planned([], [])
        detail = (f"{counted_sql(done, 'contact')} || ' already today plus ' || CAST({planned} AS VARCHAR) || "
                  f"{text(f' planned; at most {limit} per day (priority decides which go)')}")
        return [SqlCheck(f"{done} + {planned} >= {limit}", Reason.DAILY_CAP, detail, plan.source(MAX_PER_DAY))]

    def can_fire(self, use: PolicyUse) -> set[Reason]:
        """``daily_cap`` when a cap is set and some action's channel counts as a contact."""
        if use.policy.guardrails.max_contacts_per_day is not None and any(
                info.counts_as_attempt for info in use.channels):
            return {Reason.DAILY_CAP}
        return set()


DAILY_CAP = DailyCap()
