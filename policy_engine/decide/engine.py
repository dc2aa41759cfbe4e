"""The engine: a pure function of (policy, account, history, as_of) -> Decision.

``Engine.decide`` finds the account's segment (first match) and stage (first match), collects the stage's
actions that apply, adds the broken-promise escalation, and passes every candidate through the
guardrails in their documented order (see :mod:`policy_engine.guardrails`).
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
from collections.abc import Iterable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from policy_engine._exceptions import Location
from policy_engine.data.records import Account, HistoryEvent
from policy_engine.decide.decision import Decision, PlannedAction, Suppression, TraceEntry
from policy_engine.decide.facts import FactContext
from policy_engine.decide.rules import DEFAULT_BACKEND, build_ruleset
from policy_engine.decide.rules.explain import explain_condition
from policy_engine.guardrails import GUARDRAILS, Candidate, GuardrailState
from policy_engine.policy.loader import LoadedPolicy
from policy_engine.policy.merge import Origin
from policy_engine.policy.models import Offer, PolicyFile

__all__ = ["Engine", "idempotency_key", "variant_for"]

NO_SEGMENT = "none"


def idempotency_key(policy_id: str, account_id: str, action: str, day: str, suffix: str = "") -> str:
    """Stable key of one action for one account on one local day (the dispatcher sends it at most once)."""
    raw = f"{policy_id}|{account_id}|{action}|{day}|{suffix}"
    return hashlib.sha256(raw.encode("utf-8")).hexdigest()[:32]


def _stable_location(location: Location, home: Path) -> Location:
    """A location cited in decisions: shipped baselines as policies/baselines/NAME.toml, other files
    relative to the evaluated policy's folder, so output does not depend on the working directory."""
    if location.file.startswith("policies/baselines/"):
        return location
    path = Path(location.file)
    absolute = path if path.is_absolute() else Path.cwd() / path
    return dataclasses.replace(location, file=os.path.relpath(absolute.resolve(), home))


def variant_for(policy: PolicyFile, account_id: str) -> str | None:
    """The champion/challenger variant of an account: a stable hash of its id into the weights."""
    if not policy.variants:
        return None
    # the account id alone: a base and a candidate policy split the portfolio the same way
    bucket = int(hashlib.sha256(account_id.encode("utf-8")).hexdigest(), 16) % 100
    acc = 0
    for v in policy.variants:
        acc += v.weight
        if bucket < acc:
            return v.id
    return policy.variants[-1].id


def _offer_dict(offer: Offer) -> dict[str, Any]:
    data = offer.model_dump(exclude_none=True, exclude={"when"})
    return dict(sorted(data.items()))


class Engine:
    """Evaluates accounts against one loaded policy with one rule backend."""

    def __init__(self, loaded: LoadedPolicy, backend: str = DEFAULT_BACKEND) -> None:
        self.loaded = loaded
        self.policy = loaded.policy
        self.backend = backend
        self.rules = build_ruleset(loaded, backend)
        self.zone = ZoneInfo(self.policy.policy.timezone or "UTC")
        bp = self.policy.escalation.broken_promise
        self.grace = bp.grace_days if bp else 0
        self._offers = {o.id: o for o in self.policy.offers}
        # rule names ("segment:low_risk", ...) per policy object, built once instead of per account
        self._names: dict[int, str] = {id(s): f"segment:{s.id}" for s in self.policy.segments}
        self._names.update({id(h): f"hold:{h.id}" for h in self.policy.holds})
        self._names.update({id(o): f"offer:{o.id}" for o in self.policy.offers})
        for stage in self.policy.stages:
            self._names[id(stage)] = f"stage:{stage.id}"
            self._names.update({id(a): f"action:{a.id}" for a in stage.actions})
        self.origins = dict(loaded.origins)
        for si, stage in enumerate(loaded.source.model.stages):
            for ai, action in enumerate(stage.actions):
                if action.requires:
                    where = loaded.source.location("stages", si, "actions", ai, "requires")
                    self.origins[f"requires:{action.id}"] = Origin(self.policy.policy.id, "policy", where)
        home = loaded.source.path.resolve().parent
        self.origins = {key: dataclasses.replace(o, location=_stable_location(o.location, home))
                        for key, o in self.origins.items()}

    def zone_of(self, account: Account) -> ZoneInfo:
        """The account's time zone, else the policy's."""
        return account.zone or self.zone

    def decide_many(self, accounts: Iterable[Account], history: Any, as_of: datetime,
                    explain: bool = False) -> Iterator[tuple[Account, Decision]]:
        """(account, decision) for a stream of accounts; ``history`` has ``for_account(id)``."""
        for account in accounts:
            yield account, self.decide(account, history.for_account(account.account_id), as_of, explain)

    def decide(self, account: Account, events: Iterable[HistoryEvent], as_of: datetime,
               explain: bool = False) -> Decision:
        """The decision for one account at ``as_of``."""
        if as_of.tzinfo is None:
            raise ValueError("as_of needs a UTC offset")
        ctx = FactContext(account, tuple(events), as_of, self.zone_of(account), self.grace)
        trace: list[TraceEntry] | None = [] if explain else None
        p = self.policy

        matched = self.rules.match(ctx, "segments")
        scope = p.policy.applies_to
        if scope is not None:
            in_scope = "scope:policy" in matched
            if trace is not None:
                trace.append(self._trace_rule("scope", p.policy.id, scope, ctx, in_scope))
            if not in_scope:
                return Decision(account_id=account.account_id, as_of=as_of, policy=self.loaded.stamp(),
                                dpd=ctx.dpd, segment=None, stage=None, holds=[], actions=[], suppressed=[],
                                trace=trace, in_scope=False)
        segment = NO_SEGMENT
        for seg in p.segments:
            held = seg.when is None or self._names[id(seg)] in matched
            if trace is not None:
                trace.append(self._trace_rule("segment", seg.id, seg.when, ctx, held))
            if held:
                segment = seg.id
                break
        ctx.segment = segment if p.segments else None

        rules = self.rules.match(ctx, "rules")
        active_holds = [h.id for h in p.holds if self._names[id(h)] in rules]
        if trace is not None:
            for h in p.holds:
                trace.append(self._trace_rule("hold", h.id, h.when, ctx, h.id in active_holds))

        stage = None
        for st in p.stages:
            in_range = st.dpd is None or st.dpd.contains(ctx.dpd)
            held = in_range and (st.when is None or self._names[id(st)] in rules)
            if trace is not None:
                entry = self._trace_rule("stage", st.id, st.when, ctx, held)
                if st.dpd is not None:
                    entry["dpd"] = {"range": str(st.dpd), "value": ctx.dpd, "held": in_range}
                trace.append(entry)
            if held:
                stage = st
                break

        offers = [o.id for o in p.offers if o.when is None or self._names[id(o)] in rules]
        variant = variant_for(p, account.account_id)
        candidates = self._candidates(stage, segment, variant, rules, ctx, trace)
        state = GuardrailState(ctx, p.guardrails, p.holds, active_holds, self.origins,
                               self.loaded.channels)
        planned: list[PlannedAction] = []
        suppressed: list[Suppression] = []
        day = ctx.today.isoformat()
        for cand in sorted(candidates, key=lambda c: (c.priority, c.order)):
            verdict = None
            for name, check in GUARDRAILS:
                verdict = check(cand, state)
                if verdict is not None:
                    if trace is not None:
                        trace.append({"step": "guardrail", "check": name, "action": cand.action,
                                      "reason": verdict.reason, "detail": verdict.detail,
                                      "source": verdict.source})
                    break
            if verdict is not None:
                suppressed.append(verdict)
                continue
            assert state.send_at is not None
            offer = None
            if cand.offer and cand.offer in offers:
                offer = _offer_dict(self._offers[cand.offer])
            action = PlannedAction(
                cand.action, cand.channel, cand.template, state.send_at, cand.notice, offer,
                idempotency_key(p.policy.id, account.account_id, cand.action, day, cand.key_suffix),
                cand.priority, cand.stage, self._content_rules(cand.channel))
            planned.append(action)
            state.chosen.append(action)
            if trace is not None:
                done: TraceEntry = {"step": "planned", "action": cand.action, "channel": cand.channel,
                                    "send_at": state.send_at.isoformat()}
                if cand.requires:  # the audit trail of a legal step: which notice, served when
                    done["prerequisites"] = [self._prerequisite_met(r, ctx) for r in cand.requires]
                trace.append(done)
        planned.sort(key=lambda a: (a.send_at, a.priority, a.action))
        return Decision(
            account_id=account.account_id, as_of=as_of, policy=self.loaded.stamp(), dpd=ctx.dpd,
            segment=ctx.segment, stage=stage.id if stage else None,
            holds=sorted(set(active_holds) | ({"promise_active"} if self._promise_hold(ctx) else set())),
            actions=planned, suppressed=suppressed, offers=offers,
            variant=variant, trace=trace)

    @staticmethod
    def _prerequisite_met(req: Any, ctx: FactContext) -> str:
        served = ctx.view.notice_delivered_on(req.notice)
        age = (ctx.today - served).days if served else 0
        return (f"notice '{req.notice}' served on {served.isoformat() if served else '?'}, {age} days ago "
                f"(at least {req.delivered_days_ago.gte} required)")

    def _content_rules(self, channel: str) -> tuple[str, ...]:
        """Content rules the policy's baseline imposes on this channel; the channel plugin enforces them."""
        content = self.policy.guardrails.content
        if content is None:
            return ()
        rules = []
        if channel in content.opt_out_required:
            rules.append("opt_out")
        info = self.loaded.channels.get(channel)
        if content.voicemail_limited_content and info is not None and info.kind == "call":
            rules.append("limited_content_voicemail")
        return tuple(rules)

    def _promise_hold(self, ctx: FactContext) -> bool:
        return bool(self.policy.guardrails.pause_while_promise_active) and \
            ctx.active_promise is not None

    def _candidates(self, stage: Any, segment: str, variant: str | None, rules: frozenset[str],
                    ctx: FactContext, trace: list[TraceEntry] | None) -> list[Candidate]:
        out: list[Candidate] = []
        if stage is not None:
            for i, a in enumerate(stage.actions):
                seg_ok = (not a.segments or segment in a.segments) and (not a.variants or variant in a.variants)
                cond_ok = a.when is None or self._names[id(a)] in rules
                if trace is not None:
                    entry = self._trace_rule("action", a.id, a.when, ctx, seg_ok and cond_ok)
                    if a.segments:
                        entry["segments"] = {"allowed": a.segments, "value": segment,
                                             "held": not a.segments or segment in a.segments}
                    if a.variants:
                        entry["variants"] = {"allowed": a.variants, "value": variant, "held": variant in a.variants}
                    trace.append(entry)
                if seg_ok and cond_ok:
                    out.append(Candidate(
                        a.id, a.channel, a.template, a.notice, a.offer, tuple(a.requires), a.every_days,
                        (a.at_most.times, a.at_most.days) if a.at_most else None, a.once, a.priority,
                        stage.id, i))
        bp = self.policy.escalation.broken_promise
        if bp is not None:
            for promise in ctx.view.promises(bp.grace_days):
                if promise.status != "broken" or promise.broken_on is None:
                    continue
                last = ctx.view.last_contact_by_action(bp.action.id)
                already = last is not None and last >= promise.broken_on
                if trace is not None:
                    trace.append({"step": "escalation", "id": bp.action.id, "promise_due": promise.due.isoformat(),
                                  "broken_on": promise.broken_on.isoformat(), "already_escalated": already})
                if not already:
                    out.append(Candidate(
                        bp.action.id, bp.action.channel, bp.action.template, None, bp.action.offer, (), None, None,
                        False, bp.action.priority, stage.id if stage else None, -1,
                        key_suffix=f"promise:{promise.promise.at.isoformat()}"))
                    break
        return out

    def _trace_rule(self, kind: str, ident: str, cond: Any, ctx: FactContext, held: bool) -> TraceEntry:
        entry: TraceEntry = {"step": kind, "id": ident, "held": held}
        if cond is not None:
            _, node = explain_condition(cond, ctx)
            entry["condition"] = node
        return entry
