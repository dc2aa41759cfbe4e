"""Notices that must precede an action: a prerequisite notice served at least N local days earlier.

An action's ``requires`` names a notice and a minimum age; a legal action also needs every notice the
baseline lists in ``legal.required_notices``. A notice counts from the local day it was *served*: the day it
was delivered, or, for a letter recorded ``sent`` (posted) where the baseline sets
``posted_notice_served_after_business_days`` (UK: the second business day after posting), its deemed
service date. Until it is served the action is ``missing_notice``; while it is younger than the wait the
action is ``notice_waiting_period`` (with the date it becomes allowed). Where the baseline sets
``validation_notice_within_days`` (Reg F: 5), once that many days have passed since the first communication
without a notice of purpose ``validation``, nothing else goes out until one does. Validation rejects a
prerequisite no action can ever meet; under ``extends`` a baseline notice keeps its purpose and its threat
of legal action.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, timedelta
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
    counted,
    suppress,
)
from policy_engine.guardrails.hours import business_days_after, calendar_of
from policy_engine.guardrails.sql import counted as counted_sql
from policy_engine.guardrails.sql import days_after, days_between, iso_day, text
from policy_engine.guardrails.words import GROUPS, LimitText, plural
from policy_engine.policy.models import Guardrails, Notice, PolicyFile, Requirement
from policy_engine.policy.origins import OriginKey

if TYPE_CHECKING:
    from policy_engine.data.history import HistoryView
    from policy_engine.guardrails.base import OriginRecorder
    from policy_engine.policy.checks import PolicyChecker
    from policy_engine.policy.merge import Tightening
    from policy_engine.policy.source import SourceFile

__all__ = ["NOTICES", "Notices", "notice_key", "requires_key", "served_on"]

POSTED_SERVICE = OriginKey("posted_notice_served_after_business_days")
VALIDATION_WINDOW = OriginKey("validation_notice_within_days")


def requires_key(action_id: str) -> OriginKey:
    """The origin key of an action's prerequisites."""
    return OriginKey("requires", action_id)


def notice_key(notice_id: str) -> OriginKey:
    """The origin key of a notice's declaration."""
    return OriginKey("notice", notice_id)


def served_on(view: HistoryView, notice_id: str, guardrails: Guardrails, channels: ChannelIndex,
              region: str | None) -> date | None:
    """The local date ``notice_id`` was first served: delivered, or deemed served after posting."""
    after = guardrails.posted_notice_served_after_business_days
    calendar = calendar_of(guardrails, region)
    earliest: date | None = None
    for event, day in view.notice_contacts(notice_id):
        served = day
        if after and event.outcome == "sent" and channels.info(event.channel or "").kind == "letter":
            served = business_days_after(day, after, calendar)
        if earliest is None or served < earliest:
            earliest = served
    return earliest


def _requirements(candidate: Candidate, state: GuardrailState) -> list[tuple[Requirement, OriginKey]]:
    """The action's own prerequisites, then those every legal action needs."""
    found = [(requirement, requires_key(candidate.action)) for requirement in candidate.requires]
    legal = state.guardrails.legal
    if legal and legal.required_notices and state.info(candidate.channel).kind == "legal":
        from policy_engine.guardrails.legal import required_notice_key  # noqa: PLC0415  (families are peers)

        found += [(requirement, required_notice_key(requirement.notice)) for requirement in legal.required_notices]
    return found


def _relational_requirements(candidate: Candidate, plan: RelationalPlan) -> list[tuple[Requirement, OriginKey]]:
    """The action's own prerequisites, then those every legal action needs (as :func:`_requirements`)."""
    found = [(requirement, requires_key(candidate.action)) for requirement in candidate.requires]
    legal = plan.guardrails.legal
    if legal and legal.required_notices and plan.channels.info(candidate.channel).kind == "legal":
        from policy_engine.guardrails.legal import required_notice_key  # noqa: PLC0415  (families are peers)

        found += [(requirement, required_notice_key(requirement.notice)) for requirement in legal.required_notices]
    return found


class Notices(GuardrailFamily):
    """``missing_notice`` and ``notice_waiting_period``."""

    name = "prerequisites"
    reasons = (Reason.MISSING_NOTICE, Reason.NOTICE_WAITING_PERIOD)
    has_row_check = True
    settings = frozenset({"notice", "requires", "posted_notice_served_after_business_days",
                          "validation_notice_within_days"})
    group = GROUPS[3]

    def record_origins(self, source: SourceFile, record: OriginRecorder) -> None:
        """Where each action of the file states its prerequisites, each notice, and the service rules."""
        for stage_index, stage in enumerate(source.model.stages):
            for action_index, action in enumerate(stage.actions):
                if action.requires:
                    record(requires_key(action.id), "stages", stage_index, "actions", action_index, "requires")
        for index, notice in enumerate(source.model.notices):
            record(notice_key(notice.id), "notices", index)
        for key in (POSTED_SERVICE, VALIDATION_WINDOW):
            if key.setting in source.model.guardrails.model_fields_set:
                record(key, "guardrails", key.setting)

    def tighten(self, merge: Tightening) -> None:
        """Notices merge by id; a baseline notice keeps its purpose and its threat of legal action; the
        service delay and the validation window only get stricter."""
        base_notices = {notice.id: notice for notice in merge.base.notices}
        order = [notice.id for notice in merge.base.notices]
        for index, notice in enumerate(merge.child.model.notices):
            old = base_notices.get(notice.id)
            if old is not None and old.purpose is not None and notice.purpose != old.purpose:
                merge.loosens(notice_key(notice.id), ("notices", index, "purpose"),
                              f"changes the purpose of notice '{notice.id}' of {{base}} from '{old.purpose}'")
                continue
            if old is not None and old.threatens_legal_action and not notice.threatens_legal_action:
                merge.loosens(notice_key(notice.id), ("notices", index, "threatens_legal_action"),
                              f"says notice '{notice.id}' of {{base}} does not threaten legal action; it does")
                continue
            if old is None:
                order.append(notice.id)
            base_notices[notice.id] = notice
        merge.policy["notices"] = [base_notices[notice_id] for notice_id in order]

        base, child = merge.base.guardrails, merge.child.model.guardrails
        for key, stricter in ((POSTED_SERVICE, max), (VALIDATION_WINDOW, min)):
            base_value, child_value = getattr(base, key.setting), getattr(child, key.setting)
            if base_value is not None and child_value is not None and stricter(base_value, child_value) != child_value:
                merge.loosens(key, ("guardrails", key.setting),
                              f"sets {key.setting} to {child_value}; {{base}} requires {base_value}")
            values = [value for value in (base_value, child_value) if value is not None]
            merge.guardrails[key.setting] = stricter(values) if values else None

    def check(self, candidate: Candidate, state: GuardrailState) -> Verdict | None:
        """The validation notice window, then each required notice served at least N local days ago."""
        late = _validation_overdue(candidate, state)
        if late is not None:
            return late
        ctx = state.ctx
        for requirement, key in _requirements(candidate, state):
            served = served_on(ctx.view, requirement.notice, state.guardrails, state.channels, ctx.account.region)
            wait = requirement.delivered_days_ago.gte
            if served is None:
                return suppress(candidate, Reason.MISSING_NOTICE, f"notice '{requirement.notice}' has not been served",
                                None if key.setting == "requires" else state.source(key))
            age = (ctx.today - served).days
            if age < wait:
                ready = served + timedelta(days=wait)
                return suppress(candidate, Reason.NOTICE_WAITING_PERIOD,
                                f"notice '{requirement.notice}' served on {served.isoformat()} is "
                                f"{counted(age, 'day')} old; {wait} required (allowed from {ready.isoformat()})",
                                state.source(key))
        return None

    def relational(self, candidate: Candidate, plan: RelationalPlan) -> list[SqlCheck]:
        """The validation notice window, then each required notice served long enough ago."""
        facts = plan.facts
        guardrails = plan.guardrails
        checks: list[SqlCheck] = []
        within = guardrails.validation_notice_within_days
        if within is not None and candidate.purpose != "validation":
            validation = [notice_id for notice_id, notice in plan.notices.items() if notice.purpose == "validation"]
            none_out = " AND ".join(f"{facts.delivered_on(notice_id)} IS NULL" for notice_id in validation) or "TRUE"
            first = facts.first_contact(plan.channels.not_contacts)
            opening = text(f"no validation notice went out within {counted(within, 'day')} of the first "
                           "communication on ")
            checks.append(SqlCheck(
                f"{none_out} AND {first} IS NOT NULL AND {days_between(first, 'today')} > {within}",
                Reason.MISSING_NOTICE,
                f"{opening} || {iso_day(first)} || '; nothing else goes out until it does'",
                plan.source(VALIDATION_WINDOW)))
        deemed = bool(guardrails.posted_notice_served_after_business_days)
        for requirement, key in _relational_requirements(candidate, plan):
            served = facts.served_on(requirement.notice, deemed)
            wait = requirement.delivered_days_ago.gte
            checks.append(SqlCheck(f"{served} IS NULL", Reason.MISSING_NOTICE,
                                   text(f"notice '{requirement.notice}' has not been served"),
                                   None if key.setting == "requires" else plan.source(key)))
            age = days_between(served, "today")
            opening = text(f"notice '{requirement.notice}' served on ")
            checks.append(SqlCheck(
                f"{age} < {wait}", Reason.NOTICE_WAITING_PERIOD,
                f"{opening} || {iso_day(served)} || ' is ' || "
                f"{counted_sql(age, 'day')} || {text(f' old; {wait} required (allowed from ')} || "
                f"{iso_day(days_after(served, wait))} || ')'", plan.source(key)))
        return checks

    def can_fire(self, use: PolicyUse) -> set[Reason]:
        """``missing_notice`` with any prerequisite; ``notice_waiting_period`` with a wait of a day or more."""
        requires = list(use.requires)
        legal = use.policy.guardrails.legal
        if legal and legal.required_notices and any(info.kind == "legal" for info in use.channels):
            requires += legal.required_notices
        reasons: set[Reason] = set()
        if requires or use.policy.guardrails.validation_notice_within_days is not None:
            reasons.add(Reason.MISSING_NOTICE)
        if any(requirement.delivered_days_ago.gte > 0 for requirement in requires):
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

    def describe(self, key: OriginKey, policy: PolicyFile) -> LimitText | None:
        """A notice by title, purpose and legal basis; an action's prerequisites; the service rules."""
        if key.setting == "notice":
            notice = next((notice for notice in policy.notices if notice.id == key.qualifier), None)
            if notice is None:
                return None
            parts = [part for part in (notice.title, f"purpose {notice.purpose}" if notice.purpose else None,
                                       notice.legal_basis) if part]
            return LimitText(self.group, f"notice {notice.id}", "; ".join(parts) or "a written notice")
        if key.setting == "requires":
            action = next((action for stage in policy.stages for action in stage.actions
                           if action.id == key.qualifier), None)
            value = "; ".join(f"notice '{need.notice}' served at least {plural(need.delivered_days_ago.gte, 'day')} "
                              "earlier" for need in (action.requires if action else [])) or "-"
            return LimitText(self.group, f"before action {key.qualifier}", value)
        return super().describe(key, policy)


def _validation_overdue(candidate: Candidate, state: GuardrailState) -> Verdict | None:
    """Reg F 1006.34: when the first communication was not the validation notice, it must follow within
    N days; past them, nothing but the validation notice goes out."""
    within = state.guardrails.validation_notice_within_days
    if within is None or candidate.purpose == "validation":
        return None
    view = state.ctx.view
    validation = [notice_id for notice_id, notice in state.notices.items() if notice.purpose == "validation"]
    if any(view.notice_delivered_on(notice_id) is not None for notice_id in validation):
        return None
    first = view.first_contact(excluding=state.channels.not_contacts)
    if first is None or (state.ctx.today - first).days <= within:
        return None
    return suppress(candidate, Reason.MISSING_NOTICE,
                    f"no validation notice went out within {counted(within, 'day')} of the first communication on "
                    f"{first.isoformat()}; nothing else goes out until it does", state.source(VALIDATION_WINDOW))


def notices_by_id(notices: list[Notice]) -> Mapping[str, Notice]:
    """The notices of a policy by id."""
    return {notice.id: notice for notice in notices}


NOTICES = Notices()
