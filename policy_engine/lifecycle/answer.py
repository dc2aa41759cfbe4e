"""The answer to "why did this account get a letter today, and why no call?", before the whole trace.

:func:`answer` decides one account with its trace and sums the decision up: what is sent today, what is
not and why, which of the stage's actions do not apply to this account, and which kinds of channel the
policy uses that this stage has no action for. For each suppressed action it also says when the action
would next be allowed: the account is decided again on each following local day (same wall time, same
history, nothing else sent in between) until the suppression lifts. The dates are therefore the engine's
own answer, not a second reading of the rules. The search looks as far ahead as the policy's longest
wait (cadence, cap window, pause, notice wait) plus a week for days off and holidays, at most
:data:`HORIZON_DAYS` days; an action that runs once and was done is never looked for again.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from policy_engine.data.records import Account, HistoryEvent
from policy_engine.decide.decision import Decision, PlannedAction
from policy_engine.decide.engine import Engine
from policy_engine.lifecycle.simulate import channel_info

__all__ = ["HORIZON_DAYS", "Answer", "NotApplicable", "NotSent", "answer", "policy_horizon"]

HORIZON_DAYS = 366
"""The furthest :func:`answer` looks ahead for the day a suppressed action is allowed again."""
SLACK_DAYS = 7
"""Days added to the policy's longest wait: a weekend, a holiday or a day off may push an action on."""


@dataclass(frozen=True)
class NotSent:
    """A suppressed action, and when it would go out if nothing else happened."""

    action: str
    channel: str
    reason: str
    detail: str
    source: str | None
    next_allowed: date | None
    """The first later day the action is planned; None when it is not within the horizon."""
    lifts_on: date | None
    """The first later day this reason no longer stops the action (the same as ``next_allowed`` unless
    something else stops it then)."""
    then: str | None
    """What happens on ``lifts_on`` when the action is still not sent that day."""

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form (dates as ISO text)."""
        return {"action": self.action, "channel": self.channel, "reason": self.reason, "detail": self.detail,
                "source": self.source,
                "next_allowed": self.next_allowed.isoformat() if self.next_allowed else None,
                "lifts_on": self.lifts_on.isoformat() if self.lifts_on else None, "then": self.then}


@dataclass(frozen=True)
class NotApplicable:
    """An action of the account's stage that is not for this account (segment, variant or condition)."""

    action: str
    channel: str
    why: str

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {"action": self.action, "channel": self.channel, "why": self.why}


@dataclass
class Answer:
    """One account's decision, summed up for a person."""

    decision: Decision
    sends: list[PlannedAction]
    not_sent: list[NotSent]
    not_applicable: list[NotApplicable]
    absent_kinds: list[tuple[str, str]]
    """(channel kind, why this stage has none): kinds the policy uses elsewhere."""
    summary: list[str] = field(default_factory=list)
    horizon_days: int = HORIZON_DAYS
    """How far ahead the next-allowed dates were looked for."""

    def as_dict(self) -> dict[str, Any]:
        """The JSON of ``explain --format json``: the answer first, then the decision with its trace."""
        decision = self.decision
        return {
            "account_id": decision.account_id,
            "as_of": decision.as_of.isoformat(),
            "policy": decision.policy,
            "summary": self.summary,
            "sends": [action.to_dict() for action in self.sends],
            "not_sent": [item.as_dict() for item in self.not_sent],
            "not_applicable": [item.as_dict() for item in self.not_applicable],
            "absent_kinds": [{"kind": kind, "why": why} for kind, why in self.absent_kinds],
            "horizon_days": self.horizon_days,
            "decision": decision.to_dict(explain=True),
        }


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"


def policy_horizon(engine: Engine) -> int:
    """How far ahead a suppression can lift by the policy's own waits: its longest one plus :data:`SLACK_DAYS`,
    at most :data:`HORIZON_DAYS`."""
    policy = engine.policy
    guardrails = policy.guardrails
    waits = [1]
    for stage in policy.stages:
        for action in stage.actions:
            waits += [action.every_days or 0, action.at_most.days if action.at_most else 0]
            waits += [need.delivered_days_ago.gte for need in action.requires]
    waits += [cap.days for cap in guardrails.caps] + [rule.days for rule in guardrails.after_conversation]
    waits.append(guardrails.validation_notice_within_days or 0)
    if guardrails.legal is not None:
        waits.append(guardrails.legal.min_notice_days)
        waits += [need.delivered_days_ago.gte for need in guardrails.legal.required_notices]
    if policy.escalation.broken_promise is not None:
        waits.append(policy.escalation.broken_promise.grace_days)
    return min(HORIZON_DAYS, max(waits) + SLACK_DAYS)


def _runs_once(engine: Engine) -> frozenset[str]:
    return frozenset(action.id for stage in engine.policy.stages for action in stage.actions if action.once)


def _probe(engine: Engine, account: Account, events: tuple[HistoryEvent, ...], decision: Decision,
           horizon: int) -> dict[str, tuple[date | None, date | None, str | None]]:
    """action -> (next allowed, lifts on, then) for each suppressed action, deciding day after day."""
    once = _runs_once(engine)
    pending = {item.action: item.reason for item in decision.suppressed
               if not (item.reason == "already_sent" and item.action in once)}
    found: dict[str, tuple[date | None, date | None, str | None]] = {}
    lifted: dict[str, tuple[date, str]] = {}
    zone = engine.zone_of(account)
    start = decision.as_of.astimezone(zone)
    for day in range(1, horizon + 1):
        if not pending:
            break
        local = (start.replace(tzinfo=None) + timedelta(days=day)).replace(tzinfo=zone)
        later = engine.decide(account, events, local)
        planned = {action.action for action in later.actions}
        reasons = {item.action: item for item in later.suppressed}
        for action in list(pending):
            if action in planned:
                when = lifted.pop(action, (local.date(), ""))[0]
                found[action] = (local.date(), when, None)
                del pending[action]
                continue
            stopped = reasons.get(action)
            if stopped is not None and stopped.reason == pending[action]:
                continue
            if action not in lifted:  # this reason lifts today; something else (or nothing) follows
                if stopped is not None:
                    then = f"{stopped.reason}: {stopped.detail}"
                else:
                    stage = f"stage '{later.stage}'" if later.stage else "no stage"
                    then = f"not a candidate then (DPD {later.dpd}, {stage})"
                lifted[action] = (local.date(), then)
                pending[action] = stopped.reason if stopped is not None else ""
    for action in pending:
        lifts = lifted.get(action)
        found[action] = (None, lifts[0], lifts[1]) if lifts else (None, None, None)
    return found


def _not_applicable(decision: Decision, engine: Engine) -> list[NotApplicable]:
    stage = next((stage for stage in engine.policy.stages if stage.id == decision.stage), None)
    if stage is None:
        return []
    entries = {entry.get("id"): entry for entry in decision.trace or [] if entry.get("step") == "action"}
    found: list[NotApplicable] = []
    for action in stage.actions:
        entry = entries.get(action.id)
        if entry is None or entry.get("held"):
            continue
        segments, variants = entry.get("segments"), entry.get("variants")
        if segments and not segments["held"]:
            why = f"only for segment {', '.join(segments['allowed'])}; this account is '{segments['value']}'"
        elif variants and not variants["held"]:
            why = f"only for variant {', '.join(variants['allowed'])}; this account is '{variants['value']}'"
        else:
            why = "its condition (when) does not hold"
        found.append(NotApplicable(action.id, action.channel, why))
    return found


def _absent_kinds(decision: Decision, engine: Engine) -> list[tuple[str, str]]:
    """Channel kinds the policy's stages use that the account's stage has no action for."""
    by_kind: dict[str, list[str]] = {}
    for each in engine.policy.stages:
        for action in each.actions:
            stages = by_kind.setdefault(channel_info(engine, action.channel).kind.value, [])
            if each.id not in stages:
                stages.append(each.id)
    current = next((each for each in engine.policy.stages if each.id == decision.stage), None)
    here = {channel_info(engine, action.channel).kind.value for action in (current.actions if current else [])}
    where = f"stage '{decision.stage}'" if decision.stage else "no stage applies, so it"
    return [(kind, f"{where} has no {kind} action (the policy has {kind} actions in stage "
                   f"{', '.join(repr(name) for name in stages)})")
            for kind, stages in sorted(by_kind.items()) if kind not in here]


def _send_text(action: PlannedAction, decision: Decision, zone: Any) -> str:
    local = action.send_at.astimezone(zone)
    when = local.strftime("%H:%M") if local.date() == decision.as_of.astimezone(zone).date() else \
        local.strftime("%Y-%m-%d %H:%M")
    offer = f" with offer {action.offer['id']}" if action.offer else ""
    return f"{action.action} ({action.channel}) at {when}{offer}"


def _summary(result: Answer, engine: Engine, account: Account) -> list[str]:
    decision = result.decision
    zone = engine.zone_of(account)
    where = [f"DPD {decision.dpd}"]
    if decision.segment:
        where.append(f"segment {decision.segment}")
    where.append(f"stage {decision.stage}" if decision.stage else "no stage")
    lines = [f"account {decision.account_id}: {', '.join(where)}"]
    if not decision.in_scope:
        lines.append("outside the policy's scope (policy.applies_to): nothing to do")
        return lines
    if result.sends:
        lines.append("sends today: " + "; ".join(_send_text(action, decision, zone) for action in result.sends))
    else:
        lines.append("sends nothing today")
    if decision.holds:
        lines.append("holds in force: " + ", ".join(decision.holds))
    for item in result.not_sent:
        text = f"no {item.action} ({item.channel}): {item.reason}: {item.detail}"
        if item.next_allowed is not None and item.lifts_on in (None, item.next_allowed):
            text += f"; next allowed on {item.next_allowed.isoformat()}"
        elif item.lifts_on is not None:
            text += f"; {item.reason} lifts on {item.lifts_on.isoformat()}, then {item.then}"
            if item.next_allowed is not None:
                text += f"; next allowed on {item.next_allowed.isoformat()}"
        elif item.reason == "already_sent" and item.action in _runs_once(engine):
            pass  # the detail says it runs once
        else:
            text += (f"; not allowed within the next {_plural(result.horizon_days, 'day')} unless something "
                     "changes")
        lines.append(text)
    for missing in result.not_applicable:
        lines.append(f"no {missing.action} ({missing.channel}): {missing.why}")
    for kind, why in result.absent_kinds:
        lines.append(f"no {kind}: {why}")
    if decision.offers:
        lines.append("eligible offers: " + ", ".join(decision.offers))
    return lines


def answer(engine: Engine, account: Account, events: Iterable[HistoryEvent], as_of: datetime,
           *, horizon: int | None = None) -> Answer:
    """Decide ``account`` at ``as_of`` with its trace, and sum the decision up (see the module docstring);
    ``horizon``: how many days ahead to look for next-allowed dates (default: :func:`policy_horizon`)."""
    known = tuple(event for event in events if event.at <= as_of)  # later events are not known at as_of
    horizon = policy_horizon(engine) if horizon is None else horizon
    decision = engine.decide(account, known, as_of, explain=True)
    probes = _probe(engine, account, known, decision, horizon) if decision.suppressed else {}
    not_sent = [NotSent(item.action, item.channel, item.reason, item.detail, item.source,
                        *probes.get(item.action, (None, None, None))) for item in decision.suppressed]
    result = Answer(decision, list(decision.actions), not_sent,
                    _not_applicable(decision, engine) if decision.in_scope else [],
                    _absent_kinds(decision, engine) if decision.in_scope else [], horizon_days=horizon)
    result.summary = _summary(result, engine, account)
    return result
