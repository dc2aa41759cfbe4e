"""Notices that must precede an action: a prerequisite notice served at least N local days earlier.

An action's ``requires`` names a notice and a minimum age. The notice counts from the local day it was
served (its contact event's day); until it exists the action is ``missing_notice``, while it is younger
than the wait the action is ``notice_waiting_period`` (with the date it becomes allowed). Validation
rejects a prerequisite no action can ever meet.
"""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING

from policy_engine.decide.decision import Suppression
from policy_engine.guardrails.base import Candidate, GuardrailFamily, GuardrailState, PolicyUse, Reason, suppress
from policy_engine.policy.origins import OriginKey

if TYPE_CHECKING:
    from policy_engine.guardrails.base import OriginRecorder
    from policy_engine.policy.checks import PolicyChecker
    from policy_engine.policy.source import SourceFile

__all__ = ["NOTICES", "Notices", "requires_key"]


def requires_key(action_id: str) -> OriginKey:
    """The origin key of an action's prerequisites."""
    return OriginKey("requires", action_id)


class Notices(GuardrailFamily):
    """``missing_notice`` and ``notice_waiting_period``."""

    name = "prerequisites"
    reasons = (Reason.MISSING_NOTICE, Reason.NOTICE_WAITING_PERIOD)
    has_row_check = True

    def record_origins(self, source: SourceFile, record: OriginRecorder) -> None:
        """Where each action of the file states its prerequisites."""
        for stage_index, stage in enumerate(source.model.stages):
            for action_index, action in enumerate(stage.actions):
                if action.requires:
                    record(requires_key(action.id), "stages", stage_index, "actions", action_index, "requires")

    def check(self, candidate: Candidate, state: GuardrailState) -> Suppression | None:
        """Each required notice must have been served at least N local days ago."""
        for requirement in candidate.requires:
            served = state.ctx.view.notice_delivered_on(requirement.notice)
            wait = requirement.delivered_days_ago.gte
            if served is None:
                return suppress(candidate, Reason.MISSING_NOTICE, f"notice '{requirement.notice}' has not been served")
            age = (state.ctx.today - served).days
            if age < wait:
                ready = served + timedelta(days=wait)
                return suppress(candidate, Reason.NOTICE_WAITING_PERIOD,
                                f"notice '{requirement.notice}' served on {served.isoformat()} is {age} days old; "
                                f"{wait} required (allowed from {ready.isoformat()})",
                                state.source(requires_key(candidate.action)))
        return None

    def can_fire(self, use: PolicyUse) -> set[Reason]:
        """``missing_notice`` with any prerequisite; ``notice_waiting_period`` with a wait of a day or more."""
        reasons: set[Reason] = set()
        if use.requires:
            reasons.add(Reason.MISSING_NOTICE)
        if any(requirement.delivered_days_ago.gte > 0 for requirement in use.requires):
            reasons.add(Reason.NOTICE_WAITING_PERIOD)
        return reasons

    def check_policy(self, checker: PolicyChecker) -> None:
        """A prerequisite must be sent by some action early enough to be old enough within its stage."""
        senders = checker.notice_senders()
        notices = {notice.id for notice in checker.policy.notices}
        for stage_index, stage, action_index, action in checker.actions():
            for position, requirement in enumerate(action.requires):
                path = ("stages", stage_index, "actions", action_index, "requires", position)
                if requirement.notice not in notices:
                    continue  # an unknown notice is reported with the other references
                if requirement.notice not in senders:
                    checker.error(path, f"prerequisite can never be met: no action sends notice "
                                  f"'{requirement.notice}'", "impossible_prerequisite",
                                  f"add an action with notice = \"{requirement.notice}\" in an earlier stage")
                    continue
                earliest = min((sender_stage.dpd.from_ if sender_stage.dpd else 0)
                               for sender_stage, _ in senders[requirement.notice])
                latest_here = stage.dpd.to if stage.dpd else None
                wait = requirement.delivered_days_ago.gte
                if latest_here is not None and earliest + wait > latest_here:
                    checker.error(path, f"prerequisite can never be met: notice '{requirement.notice}' is sent at "
                                  f"DPD {earliest} at the earliest, so it cannot be {wait} days old before stage "
                                  f"'{stage.id}' ends at DPD {latest_here}", "impossible_prerequisite")


NOTICES = Notices()
