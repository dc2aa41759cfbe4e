"""Holds: states in which contact stops (a dispute, a cease request, bankruptcy, ...), and the pause
while a promise to pay is running.

A hold is active when its condition holds for the account (flags on the record, or events such as a
dispute opened and not yet resolved). It stops every channel, or the channels it names, except those it
exempts. Under ``extends`` a baseline hold can never be dropped, changed or narrowed; a policy adds holds
with new ids. Once a baseline pauses contact during an active promise, nothing turns that pause off.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from policy_engine.guardrails.base import (
    Candidate,
    ChannelIndex,
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
from policy_engine.guardrails.words import GROUPS, LimitText, covered, words
from policy_engine.policy.models import Hold, PolicyFile
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


WRITTEN_KINDS = frozenset({"letter", "email"})
"""Channel kinds that carry a written notice."""


def _covers(hold: Hold, channel: str, channels: ChannelIndex) -> bool:
    return channels.covers(hold.channels, hold.kinds, channel) and channel not in hold.except_channels


def _narrower(new: Hold, old: Hold) -> bool:
    """Whether ``new`` stops fewer channels than ``old`` (naming no channels and no kinds stops every one)."""
    if not new.channels and not new.kinds:
        return False
    if not old.channels and not old.kinds:
        return True
    return not set(old.channels) <= set(new.channels) or not set(old.kinds) <= set(new.kinds)


def _permitted(hold: Hold, candidate: Candidate, state: GuardrailState) -> bool:
    """A written notice whose purpose the hold permits (after a cease request: efforts end, a remedy...)."""
    return bool(hold.allow_purposes) and candidate.purpose in hold.allow_purposes and \
        state.info(candidate.channel).kind in WRITTEN_KINDS


class Holds(GuardrailFamily):
    """``hold`` and ``promise_active``."""

    name = "holds"
    reasons = (Reason.HOLD, Reason.PROMISE_ACTIVE)
    has_row_check = True
    settings = frozenset({"hold", "pause_while_promise_active"})
    group = GROUPS[5]

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
                fewer = _narrower(hold, old)
                exempt = bool(set(hold.except_channels) - set(old.except_channels)) or bool(
                    set(hold.allow_purposes) - set(old.allow_purposes))
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

    def check(self, candidate: Candidate, state: GuardrailState) -> Verdict | None:
        """An active hold covering the channel; a running promise (the escalation of a broken one passes)."""
        for hold in state.holds:
            if hold.id in state.active_holds and _covers(hold, candidate.channel, state.channels) \
                    and not _permitted(hold, candidate, state):
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

    def relational(self, candidate: Candidate, plan: RelationalPlan) -> list[SqlCheck]:
        """Each hold covering the channel, by its condition's column; then the running promise."""
        checks: list[SqlCheck] = []
        for hold in plan.holds:
            if not _covers(hold, candidate.channel, plan.channels) or (
                    hold.allow_purposes and candidate.purpose in hold.allow_purposes
                    and plan.channels.info(candidate.channel).kind in WRITTEN_KINDS):
                continue
            detail = f"hold '{hold.id}' is active" + (f": {hold.description}" if hold.description else "")
            checks.append(SqlCheck(plan.hold_active(hold.id), Reason.HOLD, text(detail),
                                   plan.source(hold_key(hold.id))))
        if plan.guardrails.pause_while_promise_active and not candidate.key_suffix:
            amount = plan.facts.active_promise_amount()
            due = plan.facts.active_promise_due()
            detail = (f"'promise to pay ' || CASE WHEN {amount} IS NOT NULL AND CAST({amount} AS DECIMAL(38, 18)) "
                      f"<> 0 THEN {amount} || ' ' ELSE '' END || 'due ' || STRFTIME({due}, '%Y-%m-%d') || ' is active'")
            checks.append(SqlCheck(plan.facts.has_active_promise(), Reason.PROMISE_ACTIVE, detail,
                                   plan.source(PROMISE_PAUSE)))
        return checks

    def can_fire(self, use: PolicyUse) -> set[Reason]:
        """``hold`` when a hold covers some action's channel; ``promise_active`` when the pause is on."""
        reasons: set[Reason] = set()
        if any(_covers(hold, info.name, use.index) for info in use.channels for hold in use.policy.holds):
            reasons.add(Reason.HOLD)
        if use.policy.guardrails.pause_while_promise_active and use.actions:
            reasons.add(Reason.PROMISE_ACTIVE)
        return reasons

    def check_policy(self, checker: PolicyChecker) -> None:
        """Every hold's channels exist and its condition is sound; letters meant for a cease hold may go out."""
        for index, hold in enumerate(checker.own.holds):
            for position, channel in enumerate(hold.channels):
                checker.channel(channel, ("holds", index, "channels", position))
            checker.condition(hold.when, ("holds", index, "when"))
        _check_written_under_holds(checker)

    def describe(self, key: OriginKey, policy: PolicyFile) -> LimitText | None:
        """A hold by the channels it stops; the promise pause with the caps and pauses."""
        if key.setting == "pause_while_promise_active":
            return LimitText(GROUPS[1], "pause while promise active",
                             words(policy.guardrails.pause_while_promise_active))
        hold = next((hold for hold in policy.holds if hold.id == key.qualifier), None)
        if hold is None:
            return None
        described = f" — {hold.description}" if hold.description else ""
        return LimitText(self.group, f"hold {hold.id}", f"stops {covered(hold.channels, hold.kinds)}{described}")


HOLDS = Holds()


def _check_written_under_holds(checker: PolicyChecker) -> None:
    """A written action meant for accounts under a hold that permits only some purposes (a cease request)
    must send a notice with one of them: otherwise it could never go out."""
    from policy_engine.policy.conditions import requires_flag  # noqa: PLC0415  (validation only)

    purposes = {notice.id: notice.purpose for notice in checker.policy.notices}
    for hold in checker.policy.holds:
        flag = _flag_of(hold)
        if not hold.allow_purposes or flag is None:
            continue
        for stage_index, stage, action_index, action in checker.actions():
            info = checker.channels.get(action.channel)
            if info is None or info.kind not in WRITTEN_KINDS:
                continue
            if not (requires_flag(stage.when, flag) or requires_flag(action.when, flag)):
                continue
            purpose = purposes.get(action.notice) if action.notice else None
            if purpose not in hold.allow_purposes:
                sends = f"sends notice '{action.notice}' (purpose: {purpose or 'none'})" if action.notice \
                    else "sends no notice"
                checker.error(("stages", stage_index, "actions", action_index),
                              f"action '{action.id}' is written for accounts under hold '{hold.id}' but {sends}; "
                              f"under that hold only notices with purpose {', '.join(hold.allow_purposes)} go out",
                              "purpose_not_permitted",
                              "give the action a notice whose purpose is one of those, or drop the action")


def _flag_of(hold: Hold) -> str | None:
    """The flag a hold's condition is, when it is exactly ``{ flags.NAME = true }``."""
    from policy_engine.policy.conditions import Compare  # noqa: PLC0415

    condition = hold.when
    if isinstance(condition, Compare) and condition.fact.startswith("flags.") and condition.op == "eq" \
            and condition.value is True:
        return condition.fact
    return None
