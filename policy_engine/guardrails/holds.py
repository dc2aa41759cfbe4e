"""Holds: states in which contact stops (a dispute, a cease request, bankruptcy, ...), and the pause
while a promise to pay is running.

A hold is active when its condition holds for the account (flags on the record, or events such as a
dispute opened and not yet resolved). It stops every channel, or the channels it names, except those it
exempts. Under ``extends`` a baseline hold can never be dropped, changed or narrowed; a policy adds holds
with new ids. Once a baseline pauses contact during an active promise, nothing turns that pause off.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from policy_engine.decide.decision import Suppression
from policy_engine.guardrails.base import Candidate, GuardrailFamily, GuardrailState, PolicyUse, Reason, suppress
from policy_engine.policy.models import Hold
from policy_engine.policy.origins import OriginKey

if TYPE_CHECKING:
    from policy_engine.guardrails.base import OriginRecorder
    from policy_engine.policy.checks import PolicyChecker
    from policy_engine.policy.merge import Tightening
    from policy_engine.policy.source import SourceFile

__all__ = ["HOLDS", "Holds", "hold_key"]

PROMISE_PAUSE = OriginKey("pause_while_promise_active")


def hold_key(hold_id: str) -> OriginKey:
    """The origin key of one hold."""
    return OriginKey("hold", hold_id)


def _covers(hold: Hold, channel: str) -> bool:
    return (not hold.channels or channel in hold.channels) and channel not in hold.except_channels


class Holds(GuardrailFamily):
    """``hold`` and ``promise_active``."""

    name = "holds"
    reasons = (Reason.HOLD, Reason.PROMISE_ACTIVE)
    has_row_check = True

    def record_origins(self, source: SourceFile, record: OriginRecorder) -> None:
        """Each hold the file defines, and its promise pause."""
        if "pause_while_promise_active" in source.model.guardrails.model_fields_set:
            record(PROMISE_PAUSE, "guardrails", "pause_while_promise_active")
        for index, hold in enumerate(source.model.holds):
            record(hold_key(hold.id), "holds", index)

    def tighten(self, merge: Tightening) -> None:
        """Baseline holds stay as written; new ids are added; the promise pause only ever turns on."""
        merged = {hold.id: hold for hold in merge.base.holds}
        order = [hold.id for hold in merge.base.holds]
        for index, hold in enumerate(merge.child.model.holds):
            old = merged.get(hold.id)
            if old is not None:
                fewer = bool(hold.channels and (not old.channels or not set(old.channels) <= set(hold.channels)))
                exempt = bool(set(hold.except_channels) - set(old.except_channels))
                if old.when != hold.when or fewer or exempt:
                    if old.when != hold.when:
                        what, key = f"changes the condition of hold '{hold.id}' of {{base}}", "when"
                    else:
                        what, key = (f"narrows hold '{hold.id}' of {{base}} to fewer channels",
                                     "channels" if fewer else "except_channels")
                    merge.loosens(hold_key(hold.id), ("holds", index, key),
                                  f"{what}; a baseline hold cannot be dropped, changed or narrowed (add a new "
                                  "hold with another id instead)")
                    continue
            else:
                order.append(hold.id)
            merged[hold.id] = hold
        merge.policy["holds"] = [merged[hold_id] for hold_id in order]

        base, child = merge.base.guardrails, merge.child.model.guardrails
        if base.pause_while_promise_active and child.pause_while_promise_active is False:
            merge.loosens(PROMISE_PAUSE, ("guardrails", "pause_while_promise_active"),
                          "stops pausing contact during an active promise; {base} requires the pause")
        merge.guardrails["pause_while_promise_active"] = (
            True if base.pause_while_promise_active else child.pause_while_promise_active
        )

    def check(self, candidate: Candidate, state: GuardrailState) -> Suppression | None:
        """An active hold covering the channel; a running promise (the escalation of a broken one passes)."""
        for hold in state.holds:
            if hold.id in state.active_holds and _covers(hold, candidate.channel):
                detail = f"hold '{hold.id}' is active" + (f": {hold.description}" if hold.description else "")
                return suppress(candidate, Reason.HOLD, detail, state.source(hold_key(hold.id)))
        if state.guardrails.pause_while_promise_active and not candidate.key_suffix:
            promise = state.ctx.active_promise
            if promise is not None:
                amount = f"{promise.amount} " if promise.amount else ""
                return suppress(candidate, Reason.PROMISE_ACTIVE,
                                f"promise to pay {amount}due {promise.due.isoformat()} is active",
                                state.source(PROMISE_PAUSE))
        return None

    def can_fire(self, use: PolicyUse) -> set[Reason]:
        """``hold`` when a hold covers some action's channel; ``promise_active`` when the pause is on."""
        reasons: set[Reason] = set()
        if any(_covers(hold, info.name) for info in use.channels for hold in use.policy.holds):
            reasons.add(Reason.HOLD)
        if use.policy.guardrails.pause_while_promise_active and use.actions:
            reasons.add(Reason.PROMISE_ACTIVE)
        return reasons

    def check_policy(self, checker: PolicyChecker) -> None:
        """Every hold's channels exist and its condition is sound."""
        for index, hold in enumerate(checker.own.holds):
            for position, channel in enumerate(hold.channels):
                checker.channel(channel, ("holds", index, "channels", position))
            checker.condition(hold.when, ("holds", index, "when"))


HOLDS = Holds()
