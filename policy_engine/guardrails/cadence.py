"""Cadence: an action runs once, every N days, or at most N times in D days, and never twice a day.

Cadence is written on the action itself (``once``, ``every_days``, ``at_most``), counted from the contact
events the action produced, in local calendar days. Whatever its cadence, an action already done today
is ``already_sent``.
"""

from __future__ import annotations

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
from policy_engine.guardrails.sql import days_between, iso_day, text

__all__ = ["CADENCE", "Cadence"]


class Cadence(GuardrailFamily):
    """``already_sent`` and ``cadence``."""

    name = "cadence"
    reasons = (Reason.ALREADY_SENT, Reason.CADENCE)
    has_row_check = True

    def check(self, candidate: Candidate, state: GuardrailState) -> Verdict | None:
        """Once, every N days, at most N times in D days; and never twice on one local day."""
        view = state.ctx.view
        today = state.ctx.today
        last = view.last_contact_by_action(candidate.action)
        if candidate.once and view.action_count(candidate.action) > 0:
            done_on = last.isoformat() if last else "an earlier day"
            return suppress(candidate, Reason.ALREADY_SENT, f"'{candidate.action}' runs once and was done on {done_on}")
        if last is not None and last == today:
            return suppress(candidate, Reason.ALREADY_SENT,
                            f"'{candidate.action}' was already done today ({last.isoformat()})")
        if candidate.every_days and last is not None:
            since = (today - last).days
            if since < candidate.every_days:
                return suppress(candidate, Reason.CADENCE, f"'{candidate.action}' last done {last.isoformat()} "
                                f"({counted(since, 'day')} ago); runs every {counted(candidate.every_days, 'day')}")
        if candidate.at_most:
            times, days = candidate.at_most
            done = view.action_count_in(candidate.action, days)
            if done >= times:
                return suppress(candidate, Reason.CADENCE,
                                f"'{candidate.action}' done {counted(done, 'time')} in the last "
                                f"{counted(days, 'day')}; at most {times}")
        return None

    def relational(self, candidate: Candidate, plan: RelationalPlan) -> list[SqlCheck]:
        """Once, not twice a day, every N days, at most N times in D days, over the action's own contacts."""
        facts = plan.facts
        last = facts.last_of_action(candidate.action)
        named = text(f"'{candidate.action}'")
        checks: list[SqlCheck] = []
        if candidate.once:
            checks.append(SqlCheck(f"{facts.count_of_action(candidate.action)} > 0", Reason.ALREADY_SENT,
                                   f"{named} || ' runs once and was done on ' || "
                                   f"COALESCE({iso_day(last)}, 'an earlier day')"))
        checks.append(SqlCheck(f"{last} = today", Reason.ALREADY_SENT,
                               f"{named} || ' was already done today (' || {iso_day(last)} || ')'"))
        if candidate.every_days:
            since = days_between(last, "today")
            checks.append(SqlCheck(f"{since} < {candidate.every_days}", Reason.CADENCE,
                                   f"{named} || ' last done ' || {iso_day(last)} || ' (' || "
                                   f"{counted_sql(since, 'day')} || "
                                   f"{text(' ago); runs every ' + counted(candidate.every_days, 'day'))}"))
        if candidate.at_most:
            times, days = candidate.at_most
            done = facts.count_of_action(candidate.action, days)
            checks.append(SqlCheck(f"{done} >= {times}", Reason.CADENCE,
                                   f"{named} || ' done ' || {counted_sql(done, 'time')} || "
                                   f"{text(' in the last ' + counted(days, 'day') + f'; at most {times}')}"))
        return checks

    def can_fire(self, use: PolicyUse) -> set[Reason]:
        """``cadence`` with every_days or at_most; ``already_sent`` with any cadence."""
        reasons: set[Reason] = set()
        if any(action.every_days is not None or action.at_most is not None for action in use.actions):
            reasons.add(Reason.CADENCE)
        if any(action.once or action.every_days is not None or action.at_most is not None for action in use.actions):
            reasons.add(Reason.ALREADY_SENT)
        return reasons


CADENCE = Cadence()
