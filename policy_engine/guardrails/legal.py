"""Legal action: only late enough, only after a written warning and its waiting period, never on
time-barred debt, and no threat of it there either.

The baseline's ``[guardrails.legal]`` sets the minimum DPD, whether a written notice must precede legal
action, on which channels such a notice is written, the minimum wait after it, the notices every legal
action needs (``required_notices``, enforced by the notices family at decision time), and the limitation
period after which the debt is time-barred, in general and per account region (the strictest applicable
one wins). A policy may raise the minimum DPD and the waits, add required notices and shorten limitation
periods; never the opposite. Validation rejects a legal action that could go out too early or without its
written notices; at decision time, legal action before the minimum DPD is suppressed ``legal_too_early``
(a notice on file from an earlier episode must not bring it forward), legal action on a time-barred debt
is suppressed ``time_barred``, and so is every notice that threatens legal action (Reg F 1006.26(b); a UK
Letter of Claim on statute-barred debt).
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
from policy_engine.policy.models import Action, LegalRules, Requirement, Stage
from policy_engine.policy.origins import OriginKey

if TYPE_CHECKING:
    from policy_engine.guardrails.base import OriginRecorder
    from policy_engine.policy.checks import PolicyChecker
    from policy_engine.policy.merge import Tightening
    from policy_engine.policy.source import SourceFile

__all__ = ["LEGAL", "Legal", "legal_key"]


def legal_key(setting: str) -> OriginKey:
    """The origin key of one ``[guardrails.legal]`` setting (``min_dpd``, ``min_notice_days``, ...)."""
    return OriginKey(f"legal.{setting}")


def _lowest(first: int | None, second: int | None) -> int | None:
    values = [value for value in (first, second) if value is not None]
    return min(values) if values else None


def limitation_for(legal: LegalRules | None, region: str | None) -> tuple[int, OriginKey] | None:
    """The limitation period that applies to an account of ``region`` (the strictest), and its origin key."""
    if legal is None:
        return None
    found: list[tuple[int, OriginKey]] = []
    if legal.time_barred_after_days:
        found.append((legal.time_barred_after_days, legal_key("time_barred_after_days")))
    if region is not None and region in legal.time_barred_after_days_by_region:
        found.append((legal.time_barred_after_days_by_region[region], region_limitation_key(region)))
    return min(found, key=lambda pair: pair[0]) if found else None


def region_limitation_key(region: str) -> OriginKey:
    """The origin key of one region's limitation period."""
    return OriginKey("legal.time_barred_after_days_by_region", region)


def required_notice_key(notice_id: str) -> OriginKey:
    """The origin key of one notice every legal action needs."""
    return OriginKey("legal.required_notices", notice_id)


class Legal(GuardrailFamily):
    """``time_barred``, and the safeguards validation enforces on legal actions."""

    name = "legal"
    reasons = (Reason.LEGAL_TOO_EARLY, Reason.TIME_BARRED)
    has_row_check = True
    settings = frozenset({"legal.min_dpd", "legal.require_notice", "legal.notice_channels", "legal.min_notice_days",
                          "legal.time_barred_after_days", "legal.time_barred_after_days_by_region",
                          "legal.required_notices", "legal.description"})
    group = GROUPS[4]

    def record_origins(self, source: SourceFile, record: OriginRecorder) -> None:
        """Each legal setting the file writes."""
        legal = source.model.guardrails.legal
        if legal:
            for setting in legal.model_fields_set:
                record(legal_key(setting), "guardrails", "legal", setting)
            for region in legal.time_barred_after_days_by_region:
                record(region_limitation_key(region), "guardrails", "legal", "time_barred_after_days_by_region",
                       region)
            for index, requirement in enumerate(legal.required_notices):
                record(required_notice_key(requirement.notice), "guardrails", "legal", "required_notices", index)

    def tighten(self, merge: Tightening) -> None:
        """The higher minimum DPD and wait, the notice requirement kept, the shorter limitation period."""
        base, child = merge.base.guardrails.legal, merge.child.model.guardrails.legal
        if child is None or base is None:
            merge.guardrails["legal"] = child or base
            return
        _report_loosening(merge, base, child)
        by_region = _merged_limitations(merge, base, child)
        required = _merged_requirements(merge, base, child)
        merge.guardrails["legal"] = LegalRules(
            time_barred_after_days_by_region=dict(sorted(by_region.items())),
            required_notices=list(required.values()),
            min_dpd=max(base.min_dpd, child.min_dpd),
            require_notice=base.require_notice or child.require_notice,
            notice_channels=sorted(set(child.notice_channels) & set(base.notice_channels)) or base.notice_channels,
            min_notice_days=max(base.min_notice_days, child.min_notice_days),
            time_barred_after_days=_lowest(base.time_barred_after_days, child.time_barred_after_days),
            description=child.description or base.description,
        )

    def check(self, candidate: Candidate, state: GuardrailState) -> Verdict | None:
        """Legal action before the minimum DPD; legal action, or a notice threatening it, on a debt unpaid
        for longer than the limitation period."""
        is_legal = state.info(candidate.channel).kind == "legal"
        if not is_legal and not candidate.threatens_legal_action:
            return None
        rules = state.guardrails.legal
        if is_legal and rules is not None and state.ctx.dpd < rules.min_dpd:
            return suppress(candidate, Reason.LEGAL_TOO_EARLY,
                            f"DPD {state.ctx.dpd}; legal action needs DPD of at least {rules.min_dpd}",
                            state.source(legal_key("min_dpd")))
        limitation = limitation_for(state.guardrails.legal, state.ctx.account.region)
        if limitation is None:
            return None
        days, key = limitation
        since_payment = state.ctx.view.days_since_last_payment()
        age = state.ctx.dpd if since_payment is None else min(state.ctx.dpd, since_payment)
        if age <= days:
            return None
        where = f" in {key.qualifier}" if isinstance(key.qualifier, str) else ""
        if is_legal:
            detail = f"debt unpaid for {counted(age, 'day')}; legal action is barred after {days}{where}"
        else:
            detail = (f"debt unpaid for {counted(age, 'day')}; legal action is barred after {days}{where}, so notice "
                      f"'{candidate.notice}' may not threaten it")
        return suppress(candidate, Reason.TIME_BARRED, detail, state.source(key))

    def relational(self, candidate: Candidate, plan: RelationalPlan) -> list[SqlCheck]:
        """DPD below the legal minimum; the limitation period per region (the strictest that applies)."""
        is_legal = plan.channels.info(candidate.channel).kind == "legal"
        if not is_legal and not candidate.threatens_legal_action:
            return []
        rules = plan.guardrails.legal
        checks: list[SqlCheck] = []
        if is_legal and rules is not None:
            checks.append(SqlCheck(f"dpd < {rules.min_dpd}", Reason.LEGAL_TOO_EARLY,
                                   f"'DPD ' || CAST(dpd AS VARCHAR) || '; legal action needs DPD of at least "
                                   f"{rules.min_dpd}'", plan.source(legal_key("min_dpd"))))
        if rules is None:
            return checks
        since = plan.facts.days_since_last_payment()
        age = f"(CASE WHEN {since} IS NULL THEN dpd ELSE LEAST(dpd, {since}) END)"
        regions = sorted(rules.time_barred_after_days_by_region)
        for region in [*regions, None]:
            limitation = limitation_for(rules, region)
            if limitation is None:
                continue
            days, key = limitation
            where = f" in {key.qualifier}" if isinstance(key.qualifier, str) else ""
            tail = "" if is_legal else f", so notice '{candidate.notice}' may not threaten it"
            if region is not None:
                in_region = f"region = {text(region)}"
            elif regions:
                in_region = f"(region IS NULL OR region NOT IN ({', '.join(text(name) for name in regions)}))"
            else:
                in_region = "TRUE"
            detail = (f"'debt unpaid for ' || {counted_sql(age, 'day')} || "
                      f"{text(f'; legal action is barred after {days}{where}{tail}')}")
            checks.append(SqlCheck(f"{in_region} AND {age} > {days}", Reason.TIME_BARRED, detail, plan.source(key)))
        return checks

    def can_fire(self, use: PolicyUse) -> set[Reason]:
        """``time_barred`` when a limitation period is set and some action is legal action or threatens it."""
        legal = use.policy.guardrails.legal
        if legal is None:
            return set()
        reasons: set[Reason] = set()
        any_legal = any(info.kind == "legal" for info in use.channels)
        legal_stage_starts = [stage.dpd.from_ if stage.dpd else 0 for stage in use.policy.stages
                              for action in stage.actions if use.index.info(action.channel).kind == "legal"]
        if any(start < legal.min_dpd for start in legal_stage_starts):
            reasons.add(Reason.LEGAL_TOO_EARLY)
        threatening = {notice.id for notice in use.policy.notices if notice.threatens_legal_action}
        if (legal.time_barred_after_days or legal.time_barred_after_days_by_region) and (
                any_legal or any(action.notice in threatening for action in use.actions)):
            reasons.add(Reason.TIME_BARRED)
        return reasons

    def check_policy(self, checker: PolicyChecker) -> None:
        """Every legal action needs a written-notice prerequisite, a long enough wait and a late enough stage."""
        rules = checker.policy.guardrails.legal
        senders = checker.notice_senders()
        for stage_index, stage, action_index, action in checker.actions():
            info = checker.channels.get(action.channel)
            if info is None or info.kind != "legal":
                continue
            path = ("stages", stage_index, "actions", action_index)
            written = _written_requirements(checker, action, rules, senders)
            if rules is None:
                if not written:
                    checker.warn(path, f"legal action '{action.id}' has no written-notice prerequisite: legal means "
                                 "should come only after a full written warning", "legal_without_notice",
                                 _written_notice_hint(checker, senders, 0))
                continue
            if rules.require_notice and not written:
                _report_without_notice(checker, path, action, rules, senders)
            _check_waits(checker, path, action, rules, written)
            _check_required_notices(checker, path, senders, rules)
            _check_too_early(checker, path, stage, action, rules, senders)


def _written_requirements(checker: PolicyChecker, action: Action, rules: LegalRules | None,
                          senders: dict[str, list[tuple[Stage, Action]]]) -> list[Requirement]:
    """The action's prerequisites (and the baseline's required notices) that some letter action sends."""
    required = rules.required_notices if rules else []
    return [requirement for requirement in [*action.requires, *required] if any(
        checker.channels.get(sender.channel) and checker.channels[sender.channel].kind == "letter"
        for _, sender in senders.get(requirement.notice, []))]


def _report_without_notice(checker: PolicyChecker, path: tuple[str | int, ...], action: Action,
                           rules: LegalRules, senders: dict[str, list[tuple[Stage, Action]]]) -> None:
    origins = checker.loaded.origins
    origin = origins.get(legal_key("require_notice")) or origins.get(legal_key("min_dpd"))
    cite = f" (required by {origin})" if origin else ""
    unsent = ", ".join(f"'{requirement.notice}'" for requirement in action.requires)
    why = f" ({unsent} is not sent by any letter action)" if unsent else ""
    checker.error(path, f"legal action '{action.id}' has no prerequisite on a written notice{why}{cite}",
                  "legal_without_notice", _written_notice_hint(checker, senders, rules.min_notice_days),
                  related=(origin.location,) if origin else ())


def _check_waits(checker: PolicyChecker, path: tuple[str | int, ...], action: Action, rules: LegalRules,
                 written: list[Requirement]) -> None:
    """Each written notice the action itself waits for must have been out at least min_notice_days."""
    wait_origin = checker.loaded.origins.get(legal_key("min_notice_days"))
    for requirement in [found for found in written if found in action.requires]:
        if requirement.delivered_days_ago.gte < rules.min_notice_days:
            whose = wait_origin.whose if wait_origin else "the baseline"
            checker.error(path + ("requires", action.requires.index(requirement), "delivered_days_ago"),
                          f"waits {requirement.delivered_days_ago.gte} days after notice "
                          f"'{requirement.notice}'; {whose} requires at least {rules.min_notice_days}",
                          "notice_wait_too_short", related=(wait_origin.location,) if wait_origin else ())


def _check_too_early(checker: PolicyChecker, path: tuple[str | int, ...], stage: Stage, action: Action,
                     rules: LegalRules, senders: dict[str, list[tuple[Stage, Action]]]) -> None:
    """The earliest DPD the action can go out at (its stage, its notices' waits) reaches min_dpd."""
    start = stage.dpd.from_ if stage.dpd else 0
    waits = [_ready_from(requirement, senders) for requirement in [*action.requires, *rules.required_notices]]
    earliest = max([start, *waits])
    if earliest < rules.min_dpd:
        dpd_origin = checker.loaded.origins.get(legal_key("min_dpd"))
        could = f", so it could go out at DPD {earliest}" if earliest > start else ""
        checker.error(path, f"legal action '{action.id}' is in stage '{stage.id}' which starts at DPD "
                      f"{start}{could}; legal action needs DPD of at least {rules.min_dpd}",
                      "legal_too_early", related=(dpd_origin.location,) if dpd_origin else ())


PATH = ("guardrails", "legal")


def _report_loosening(merge: Tightening, base: LegalRules, child: LegalRules) -> None:
    """Every single-valued legal setting the child relaxes."""
    given = child.model_fields_set
    if "min_dpd" in given and child.min_dpd < base.min_dpd:
        merge.loosens(legal_key("min_dpd"), PATH + ("min_dpd",),
                      f"allows legal action from DPD {child.min_dpd}; {{base}} requires at least {base.min_dpd}")
    if base.require_notice and "require_notice" in given and not child.require_notice:
        merge.loosens(legal_key("require_notice"), PATH + ("require_notice",),
                      "drops the written notice required before legal action by {base}")
    if "min_notice_days" in given and child.min_notice_days < base.min_notice_days:
        merge.loosens(legal_key("min_notice_days"), PATH + ("min_notice_days",),
                      f"shortens the wait after the pre-legal notice to {child.min_notice_days} days; {{base}} "
                      f"requires {base.min_notice_days}")
    if base.time_barred_after_days and "time_barred_after_days" in given and (
            child.time_barred_after_days is None or child.time_barred_after_days > base.time_barred_after_days):
        merge.loosens(legal_key("time_barred_after_days"), PATH + ("time_barred_after_days",),
                      f"extends the limitation period to {child.time_barred_after_days} days; {{base}} sets "
                      f"{base.time_barred_after_days}")


def _merged_limitations(merge: Tightening, base: LegalRules, child: LegalRules) -> dict[str, int]:
    """Limitation periods per region: a region's period may only get shorter."""
    by_region = dict(base.time_barred_after_days_by_region)
    for region, days in child.time_barred_after_days_by_region.items():
        old = by_region.get(region)
        if old is not None and days > old:
            merge.loosens(region_limitation_key(region), PATH + ("time_barred_after_days_by_region", region),
                          f"extends the limitation period of {region} to {days} days; {{base}} sets {old}")
            continue
        by_region[region] = days
    return by_region


def _merged_requirements(merge: Tightening, base: LegalRules, child: LegalRules) -> dict[str, Requirement]:
    """Notices required before legal action: more of them, and waits that only get longer."""
    required = {requirement.notice: requirement for requirement in base.required_notices}
    for index, requirement in enumerate(child.required_notices):
        old = required.get(requirement.notice)
        if old is not None and requirement.delivered_days_ago.gte < old.delivered_days_ago.gte:
            merge.loosens(required_notice_key(requirement.notice), PATH + ("required_notices", index),
                          f"shortens the wait after notice '{requirement.notice}' to "
                          f"{requirement.delivered_days_ago.gte} days; {{base}} requires {old.delivered_days_ago.gte}")
            continue
        required[requirement.notice] = requirement
    return required


def _written_notice_hint(checker: PolicyChecker, senders: dict[str, list[tuple[Stage, Action]]], days: int) -> str:
    """How to give a legal action its written-notice prerequisite, naming the policy's own notices: those a
    letter action sends first, else those it declares (pre-legal ones first)."""
    def letter(action: Action) -> bool:
        info = checker.channels.get(action.channel)
        return info is not None and info.kind == "letter"

    order = {"pre_legal": 0, "letter_of_claim": 1, "default": 2}
    notices = sorted(checker.policy.notices, key=lambda notice: (order.get(str(notice.purpose), 9), notice.id))
    by_letter = [notice.id for notice in notices if any(letter(sender) for _, sender in senders.get(notice.id, []))]
    wait = f"delivered_days_ago = {{ gte = {days} }}"
    if by_letter:
        return (f'add requires = {{ notice = "{by_letter[0]}", {wait} }} (written notices this policy sends by '
                f"letter: {', '.join(by_letter)})")
    if notices:
        return (f'add requires = {{ notice = "{notices[0].id}", {wait} }} and a letter action with notice = '
                f"\"{notices[0].id}\" in an earlier stage (this policy's notices: "
                f"{', '.join(notice.id for notice in notices)})")
    return ('declare a written notice under [[notices]], send it with a letter action in an earlier stage, and '
            f'add requires = {{ notice = "ITS_ID", {wait} }}')


def _ready_from(requirement: Requirement, senders: dict[str, list[tuple[Stage, Action]]]) -> int:
    """The earliest DPD at which a prerequisite can be met: its earliest sender's stage start plus the wait
    (0 when no action sends it: that is reported as an impossible prerequisite)."""
    starts = [stage.dpd.from_ if stage.dpd else 0 for stage, _ in senders.get(requirement.notice, [])]
    return min(starts) + requirement.delivered_days_ago.gte if starts else 0


def _check_required_notices(checker: PolicyChecker, path: tuple[str | int, ...],
                            senders: dict[str, list[tuple[Stage, Action]]], rules: LegalRules) -> None:
    """Every notice the baseline requires before legal action must be sent by some action; the decision
    enforces its wait whether or not the legal action restates it."""
    for required in rules.required_notices:
        if required.notice in senders:
            continue
        origin = checker.loaded.origins.get(required_notice_key(required.notice))
        whose = origin.whose if origin else "the baseline"
        checker.error(path, f"legal action can never go out: {whose} requires notice '{required.notice}' served "
                      f"at least {required.delivered_days_ago.gte} days before any legal action, and no action "
                      "sends it", "impossible_prerequisite",
                      f'add a letter action with notice = "{required.notice}" in an earlier stage',
                      related=(origin.location,) if origin else ())


LEGAL = Legal()
