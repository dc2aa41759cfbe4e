"""The engine: a pure function of (policy, account, history, as_of) -> Decision.

``Engine.decide`` runs these steps, each a short method:

1. facts: the account's facts at ``as_of`` in its local calendar;
2. scope: a policy with ``applies_to`` gives accounts outside it an empty decision (``in_scope = false``);
3. segment: the first segment whose condition holds;
4. holds: every hold whose condition holds;
5. stage: the first stage whose DPD range and condition hold;
6. candidates: the stage's actions that apply (segments, variants, conditions), plus the broken-promise
   escalation;
7. guardrails: every candidate, in priority order, through the row checks of the guardrail families in
   their documented order (see :mod:`policy_engine.guardrails`).

Every step reports to a tracer; only ``--explain`` records anything.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from policy_engine.data.history import HistoryView
from policy_engine.data.records import Account, HistoryEvent
from policy_engine.decide.decision import Decision, PlannedAction, Suppression
from policy_engine.decide.facts import FactContext
from policy_engine.decide.rules import DEFAULT_BACKEND, build_ruleset
from policy_engine.decide.trace import NO_TRACE, RecordingTracer, Tracer
from policy_engine.guardrails import ROW_CHECKS, Candidate, GuardrailState, content_rules_for
from policy_engine.guardrails.base import ChannelIndex
from policy_engine.guardrails.notices import served_on
from policy_engine.policy.loader import LoadedPolicy
from policy_engine.policy.models import Offer, PolicyFile, Requirement, Stage

__all__ = ["Engine", "idempotency_key", "offer_terms", "variant_for"]

NO_SEGMENT = "none"


def idempotency_key(policy_id: str, account_id: str, action: str, day: str, suffix: str = "") -> str:
    """Stable key of one action for one account on one local day (the dispatcher sends it at most once)."""
    raw = f"{policy_id}|{account_id}|{action}|{day}|{suffix}"
    return hashlib.sha256(raw.encode("utf-8")).hexdigest()[:32]


def variant_for(policy: PolicyFile, account_id: str) -> str | None:
    """The champion/challenger variant of an account: a stable hash of its id into the weights."""
    if not policy.variants:
        return None
    # the account id alone: a base and a candidate policy split the portfolio the same way
    bucket = int(hashlib.sha256(account_id.encode("utf-8")).hexdigest(), 16) % 100
    cumulative = 0
    for variant in policy.variants:
        cumulative += variant.weight
        if bucket < cumulative:
            return variant.id
    return policy.variants[-1].id


def _all_events(history: Any) -> Iterable[HistoryEvent]:
    """Every event of a history index, each account's in time order; or the events of a stream as they come
    (the columnar plan orders them itself)."""
    if not hasattr(history, "for_account"):
        return history
    return (event for account_id in list(history.accounts()) for event in history.for_account(account_id))


def offer_terms(offer: Offer) -> dict[str, Any]:
    """The terms of an offer as a planned action carries them (keys sorted, no condition)."""
    data = offer.model_dump(exclude_none=True, exclude={"when"})
    return dict(sorted(data.items()))


@dataclass(frozen=True)
class _Matched:
    """What the rules found for one account: segment, rules that hold, active holds, stage, variant."""

    segment: str
    rules: frozenset[str]
    holds: list[str]
    stage: Stage | None
    variant: str | None
    offers: list[str]


class Engine:
    """Evaluates accounts against one loaded policy with one rule backend."""

    def __init__(self, loaded: LoadedPolicy, backend: str = DEFAULT_BACKEND) -> None:
        self.loaded = loaded
        self.policy = loaded.policy
        self.backend = backend
        self.rules = build_ruleset(loaded, backend)
        self.zone = ZoneInfo(self.policy.policy.timezone or "UTC")
        broken_promise = self.policy.escalation.broken_promise
        self.grace = broken_promise.grace_days if broken_promise else 0
        self._offers = {offer.id: offer for offer in self.policy.offers}
        # rule names ("segment:low_risk", ...) per policy object, built once instead of per account
        self._names: dict[int, str] = {id(segment): f"segment:{segment.id}" for segment in self.policy.segments}
        self._names.update({id(hold): f"hold:{hold.id}" for hold in self.policy.holds})
        self._names.update({id(offer): f"offer:{offer.id}" for offer in self.policy.offers})
        for stage in self.policy.stages:
            self._names[id(stage)] = f"stage:{stage.id}"
            self._names.update({id(action): f"action:{action.id}" for action in stage.actions})
        self._content_rules: dict[str, tuple[str, ...]] = {}
        self.channels = ChannelIndex(loaded.channels)
        self._notices = {notice.id: notice for notice in self.policy.notices}
        self._columnar: Any = None
        if backend == "columnar":  # compiled once; a policy the plan does not cover is refused here
            from policy_engine.decide.columnar.backend import ColumnarBackend  # noqa: PLC0415  (loads DuckDB)

            self._columnar = ColumnarBackend(loaded)
        elif backend == "spark":  # the same plan, transpiled to Spark SQL; the session starts on first use
            from policy_engine.decide.columnar.spark import SparkBackend  # noqa: PLC0415  (loads SQLGlot)

            self._columnar = SparkBackend(loaded)

    @property
    def portfolio_backend(self) -> Any:
        """The backend that decides whole portfolios (the columnar plan on DuckDB, or on Spark), else None."""
        return self._columnar

    def zone_of(self, account: Account) -> ZoneInfo:
        """The account's time zone, else the policy's."""
        return account.zone or self.zone

    def decide_many(self, accounts: Iterable[Account], history: Any, as_of: datetime,
                    explain: bool = False) -> Iterator[tuple[Account, Decision]]:
        """(account, decision) for a stream of accounts; ``history`` has ``for_account(id)`` (with the
        columnar backend it may also be a stream of events).

        With the ``columnar`` backend the whole stream is decided at once by the relational plan (``history``
        then also lists its ``accounts()``), except with ``explain``: the trace is the row engine's job.
        """
        if self._columnar is not None and not explain:
            yield from self._decide_columnar(accounts, history, as_of)
            return
        for account in accounts:
            yield account, self.decide(account, history.for_account(account.account_id), as_of, explain)

    def _decide_columnar(self, accounts: Iterable[Account], history: Any,
                         as_of: datetime) -> Iterator[tuple[Account, Decision]]:
        for account, decision in self._columnar.decide(accounts, _all_events(history), as_of, keep_accounts=True):
            assert account is not None
            yield account, decision

    def json_lines(self, accounts: Iterable[Account], history: Any, as_of: datetime) -> Iterator[str] | None:
        """The decisions as JSON Lines text (``Decision.to_dict`` as ``dry-run --format jsonl`` writes it, one
        string per account, no newline) when the backend writes them itself (``columnar``); else None."""
        if self._columnar is None:
            return None
        return self._columnar.json_lines(accounts, _all_events(history), as_of)

    def decisions(self, accounts: Iterable[Account], history: Any, as_of: datetime,
                  explain: bool = False) -> Iterator[Decision]:
        """The decisions alone for a stream of accounts (the columnar backend then keeps no account)."""
        if self._columnar is not None and not explain:
            for _, decision in self._columnar.decide(accounts, _all_events(history), as_of):
                yield decision
            return
        for _, decision in self.decide_many(accounts, history, as_of, explain):
            yield decision

    def decide(self, account: Account, events: Iterable[HistoryEvent], as_of: datetime,
               explain: bool = False) -> Decision:
        """The decision for one account at ``as_of``."""
        if as_of.tzinfo is None:
            raise ValueError("as_of needs a UTC offset")
        ctx = FactContext(account, tuple(events), as_of, self.zone_of(account), self.grace,
                          served=self._served_on)
        tracer = RecordingTracer() if explain else NO_TRACE
        segments_matched = self.rules.match(ctx, "segments")
        if not self._in_scope(ctx, segments_matched, tracer):
            return Decision(account_id=account.account_id, as_of=as_of, policy=self.loaded.stamp(),
                            dpd=ctx.dpd, segment=None, stage=None, holds=[], actions=[], suppressed=[],
                            trace=tracer.entries, in_scope=False)
        matched = self._match(ctx, segments_matched, tracer)
        candidates = self._candidates(matched, ctx, tracer)
        planned, suppressed = self._apply_guardrails(candidates, matched, ctx, tracer)
        planned.sort(key=lambda action: (action.send_at, action.priority, action.action))
        holds = set(matched.holds) | ({"promise_active"} if self._promise_hold(ctx) else set())
        return Decision(
            account_id=account.account_id, as_of=as_of, policy=self.loaded.stamp(), dpd=ctx.dpd,
            segment=ctx.segment, stage=matched.stage.id if matched.stage else None, holds=sorted(holds),
            actions=planned, suppressed=suppressed, offers=matched.offers, variant=matched.variant,
            trace=tracer.entries)

    # -- steps -----------------------------------------------------------------------------------

    def _in_scope(self, ctx: FactContext, segments_matched: frozenset[str], tracer: Tracer) -> bool:
        scope = self.policy.policy.applies_to
        if scope is None:
            return True
        in_scope = "scope:policy" in segments_matched
        tracer.rule("scope", self.policy.policy.id, scope, ctx, in_scope)
        return in_scope

    def _match(self, ctx: FactContext, segments_matched: frozenset[str], tracer: Tracer) -> _Matched:
        """Segment (first match), then the rules that may use it: holds and stage (first match)."""
        policy = self.policy
        segment = NO_SEGMENT
        for candidate_segment in policy.segments:
            held = candidate_segment.when is None or self._names[id(candidate_segment)] in segments_matched
            tracer.rule("segment", candidate_segment.id, candidate_segment.when, ctx, held)
            if held:
                segment = candidate_segment.id
                break
        ctx.segment = segment if policy.segments else None

        rules = self.rules.match(ctx, "rules")
        active_holds = [hold.id for hold in policy.holds if self._names[id(hold)] in rules]
        for hold in policy.holds:
            tracer.rule("hold", hold.id, hold.when, ctx, hold.id in active_holds)

        chosen_stage = None
        for stage in policy.stages:
            in_range = stage.dpd is None or stage.dpd.contains(ctx.dpd)
            held = in_range and (stage.when is None or self._names[id(stage)] in rules)
            extra = {"dpd": {"range": str(stage.dpd), "value": ctx.dpd, "held": in_range}} if stage.dpd else {}
            tracer.rule("stage", stage.id, stage.when, ctx, held, **extra)
            if held:
                chosen_stage = stage
                break
        offers = [offer.id for offer in policy.offers if offer.when is None or self._names[id(offer)] in rules]
        return _Matched(segment, rules, active_holds, chosen_stage, variant_for(policy, ctx.account.account_id),
                        offers)

    def _candidates(self, matched: _Matched, ctx: FactContext, tracer: Tracer) -> list[Candidate]:
        """The stage's actions that apply, then the escalation of a broken promise not yet escalated."""
        found: list[Candidate] = []
        stage = matched.stage
        if stage is not None:
            for order, action in enumerate(stage.actions):
                segment_ok = not action.segments or matched.segment in action.segments
                variant_ok = not action.variants or matched.variant in action.variants
                condition_ok = action.when is None or self._names[id(action)] in matched.rules
                extra: dict[str, Any] = {}
                if action.segments:
                    extra["segments"] = {"allowed": action.segments, "value": matched.segment, "held": segment_ok}
                if action.variants:
                    extra["variants"] = {"allowed": action.variants, "value": matched.variant,
                                         "held": matched.variant in action.variants}
                applies = segment_ok and variant_ok and condition_ok
                tracer.rule("action", action.id, action.when, ctx, applies, **extra)
                if applies:
                    notice = self._notices.get(action.notice) if action.notice else None
                    found.append(Candidate(
                        action.id, action.channel, action.template, action.notice, action.offer,
                        tuple(action.requires), action.every_days,
                        (action.at_most.times, action.at_most.days) if action.at_most else None, action.once,
                        action.priority, stage.id, order,
                        purpose=notice.purpose if notice else None,
                        threatens_legal_action=bool(notice and notice.threatens_legal_action)))
        escalation = self._escalation(stage, ctx, tracer)
        if escalation is not None:
            found.append(escalation)
        return found

    def _escalation(self, stage: Stage | None, ctx: FactContext, tracer: Tracer) -> Candidate | None:
        """The follow-up of the first broken promise that has not been escalated since it broke."""
        broken_promise = self.policy.escalation.broken_promise
        if broken_promise is None:
            return None
        follow_up = broken_promise.action
        for promise in ctx.view.promises(broken_promise.grace_days):
            if promise.status != "broken" or promise.broken_on is None:
                continue
            last = ctx.view.last_contact_by_action(follow_up.id)
            already = last is not None and last >= promise.broken_on
            tracer.escalation(follow_up.id, promise.due.isoformat(), promise.broken_on.isoformat(), already)
            if not already:
                return Candidate(
                    follow_up.id, follow_up.channel, follow_up.template, None, follow_up.offer, (), None, None,
                    False, follow_up.priority, stage.id if stage else None, -1,
                    key_suffix=f"promise:{promise.promise.at.isoformat()}")
        return None

    def _apply_guardrails(self, candidates: list[Candidate], matched: _Matched, ctx: FactContext,
                          tracer: Tracer) -> tuple[list[PlannedAction], list[Suppression]]:
        """Each candidate, most important first, through the row checks; the first suppression stops it."""
        state = GuardrailState(ctx, self.policy.guardrails, self.policy.holds, matched.holds, self.loaded.sources,
                               self.channels, self._notices)
        planned: list[PlannedAction] = []
        suppressed: list[Suppression] = []
        day = ctx.today.isoformat()
        for candidate in sorted(candidates, key=lambda found: (found.priority, found.order)):
            suppression = None
            for family in ROW_CHECKS:
                verdict = family.check(candidate, state)
                if verdict is not None:
                    suppression = Suppression(candidate.action, candidate.channel, verdict.reason.value,
                                              verdict.detail, verdict.source)
                    tracer.guardrail(family.name, suppression)
                    break
            if suppression is not None:
                suppressed.append(suppression)
                continue
            assert state.send_at is not None
            offer = None
            if candidate.offer and candidate.offer in matched.offers:
                offer = offer_terms(self._offers[candidate.offer])
            action = PlannedAction(
                candidate.action, candidate.channel, candidate.template, state.send_at, candidate.notice, offer,
                idempotency_key(self.policy.policy.id, ctx.account.account_id, candidate.action, day,
                                candidate.key_suffix),
                candidate.priority, candidate.stage, self._content_rules_of(candidate.channel),
                not_after=state.not_after)
            planned.append(action)
            state.chosen.append(action.channel)
            if tracer.recording:  # the audit trail of a legal step: which notice, served when
                prerequisites = [self._prerequisite_met(requirement, ctx) for requirement in candidate.requires]
                tracer.planned(candidate.action, candidate.channel, state.send_at.isoformat(), prerequisites)
        return planned, suppressed

    def _content_rules_of(self, channel: str) -> tuple[str, ...]:
        """Content rules the baseline imposes on this channel (computed once per channel)."""
        rules = self._content_rules.get(channel)
        if rules is None:
            rules = self._content_rules[channel] = content_rules_for(self.policy.guardrails, channel,
                                                                     self.loaded.channels)
        return rules

    def _served_on(self, view: HistoryView, notice_id: str, region: str | None) -> date | None:
        """The day a notice was served (delivered, or deemed served after posting)."""
        return served_on(view, notice_id, self.policy.guardrails, self.channels, region)

    @staticmethod
    def _prerequisite_met(requirement: Requirement, ctx: FactContext) -> str:
        served = ctx.served_on(requirement.notice)
        age = (ctx.today - served).days if served else 0
        return (f"notice '{requirement.notice}' served on {served.isoformat() if served else '?'}, {age} days "
                f"ago (at least {requirement.delivered_days_ago.gte} required)")

    def _promise_hold(self, ctx: FactContext) -> bool:
        return bool(self.policy.guardrails.pause_while_promise_active) and ctx.active_promise is not None
