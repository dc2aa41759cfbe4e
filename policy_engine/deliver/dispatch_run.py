"""The dispatch loop: one call of dispatch, from decisions in to every result recorded.

The loop owns the ledger. Each cycle is one transaction: the results that came back since the last cycle,
a chunk of decisions with their ``pending`` rows, and the claims of a batch per channel. After the commit
it renders the claimed messages and hands them to the channels' lanes (:mod:`.lanes`). The guarantees
are those of :mod:`.dispatch`.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import time
from collections.abc import Iterable, Mapping
from itertools import islice
from typing import TYPE_CHECKING, Any

from policy_engine.data.records import Account
from policy_engine.decide.decision import Decision, PlannedAction
from policy_engine.deliver.lanes import ChannelLane, SendJob, SendOutcome
from policy_engine.deliver.outgoing import Outgoing, contact_event
from policy_engine.deliver.summary import DispatchSummary, Failure
from policy_engine.deliver.templates import TemplateError, read_only, template_account
from policy_engine.ledger import ACCOUNT_ID_MAX, Attempt, ClaimOutcome, Finish
from policy_engine.ledger.clock import utc_iso
from policy_engine.policy.channels import ChannelKind

if TYPE_CHECKING:
    from policy_engine.deliver.dispatch import Dispatcher

__all__ = ["BACKLOG_LIMIT", "CLAIM_BATCH", "DECISION_CHUNK", "RESULT_BATCH", "RESULT_DELAY", "DispatchRun"]

log = logging.getLogger("policy_engine.deliver.dispatch")  # one logger for dispatch, whichever module logs

DECISION_CHUNK = 200
"""Decisions recorded per ledger transaction."""
CLAIM_BATCH = 256
"""Actions claimed per ledger transaction, at most."""
BACKLOG_LIMIT = 4000
"""Due actions waiting for their lane before dispatch stops taking decisions (back-pressure)."""
RESULT_BATCH = 256
"""Results waiting to be recorded that make a cycle due whatever else there is to do."""
RESULT_DELAY = 0.2
"""Seconds a result waits to be recorded, at most, when no cycle is due for another reason."""
HELD_AMBIGUOUS = (
    "ambiguous: the message was handed over and no answer came ({detail}); the channel's provider cannot "
    "deduplicate by key, so it was not sent again; check with the provider, then requeue it or leave it"
)


class DispatchRun:
    """One call of dispatch: the loop that owns the ledger, and the lanes of the channels it sends on."""

    def __init__(self, dispatcher: Dispatcher, summary: DispatchSummary) -> None:
        self.d = dispatcher
        self.ledger = dispatcher.ledger
        self.summary = summary
        self.results: queue.SimpleQueue[SendOutcome] = queue.SimpleQueue()
        self.lanes: dict[str, ChannelLane] = {}
        self.failing: list[Outgoing] = []
        """Actions found unsendable before their claim: claimed in the next cycle, then failed permanently."""
        self.settled: list[tuple[Outgoing, Finish]] = []
        """Claimed actions whose result is known without a send (unsendable, a template that fails): recorded
        by the next cycle."""
        self.waiting: list[SendOutcome] = []
        """Results taken off the queue, recorded by the next cycle."""
        self.returned: dict[str, int] = {}
        """How many of ``waiting`` each channel's lane sent."""
        self.since = 0.0
        """When the oldest result still to record came (``time.monotonic``)."""

    # -- the loop ----------------------------------------------------------------------------------

    def run(self, items: Iterable[tuple[Decision, Account | None, str | None]]) -> DispatchSummary:
        """Record, claim, send and settle every action of ``items`` (decision, account, why the account is
        missing), then close the lanes; the summary of what happened."""
        iterator = iter(items)
        exhausted = False
        try:
            while True:
                self._take_results()
                chunk: list[tuple[Decision, Account | None, str | None]] = []
                if not exhausted and self._backlog() < BACKLOG_LIMIT:
                    chunk = list(islice(iterator, DECISION_CHUNK))
                    exhausted = not chunk
                progressed = bool(chunk or self._cycle_due()) and self._cycle(chunk)
                busy = self.failing or self.settled or self.waiting or any(
                    lane.in_flight or lane.backlog for lane in self.lanes.values())
                if exhausted and not busy:
                    break
                if not progressed:
                    self._wait_for_result(0.05)
        finally:
            self._shut_down()
        return self.summary

    def _cycle(self, chunk: list[tuple[Decision, Account | None, str | None]]) -> bool:
        """One cycle in one ledger transaction: the results that came back, the chunk's decisions and the
        claims of what every lane can start soon; then the claimed actions are rendered and handed to their
        lanes (never before the claims are committed). True when anything moved."""
        finishes, outcomes = self._results()
        decisions = self._admit(chunk)
        progressed = bool(chunk)
        for lane in self.lanes.values():
            progressed = self._pause_if_open(lane) or progressed
        failing, self.failing = self.failing, []
        batches = []
        for lane in self.lanes.values():
            count = min(lane.room, len(lane.backlog), CLAIM_BATCH)
            if count > 0:
                batches.append((lane, [lane.backlog.popleft() for _ in range(count)]))
        keys = [out.key for out in failing] + [out.key for _, batch in batches for out in batch]
        if not (finishes or decisions or keys):
            return progressed
        cycle = self.ledger.write_cycle(
            results=[finish for _, finish in finishes], decisions=decisions, claims=keys, worker=self.d.worker,
            lease_seconds=self.d.lease_seconds, resend_crashed=self._resend_crashed,
            crashed_event=self._interrupted_event,
        )
        self._settle(finishes, outcomes, cycle.recorded)
        self._fail_claimed(failing, cycle.claims)
        for lane, batch in batches:
            self._hand_over(lane, batch, cycle.claims)
        return True

    def _cycle_due(self) -> bool:
        """Whether a cycle is worth its transaction now. A commit costs the same for one row as for a
        hundred, so results that trickle back wait until a lane runs low on claimed work (and more is
        claimed in the same commit), a lane with nothing left to claim has sent one per thread, nothing
        else is being sent, or the oldest has waited ``RESULT_DELAY``."""
        if self.failing or len(self.waiting) + len(self.settled) >= RESULT_BATCH:
            return True
        pending = bool(self.waiting or self.settled)
        if pending and time.monotonic() - self.since >= RESULT_DELAY:
            return True
        sending = 0
        for name, lane in self.lanes.items():
            returned = self.returned.get(name, 0)
            unfinished = lane.in_flight - returned
            sending += unfinished
            if lane.backlog and (lane.breaker.is_open or unfinished < lane.refill_below):
                return True
            if returned >= lane.controls.concurrency and not lane.backlog:  # its last sends: record as they come
                return True
        return pending and sending == 0

    def _backlog(self) -> int:
        return sum(len(lane.backlog) for lane in self.lanes.values())

    def _shut_down(self) -> None:
        for lane in self.lanes.values():
            lane.close()
        try:
            finishes, outcomes = self._results()
            if finishes:
                recorded = self.ledger.finish_many([finish for _, finish in finishes])
                self._settle(finishes, outcomes, recorded)
        except Exception:  # already failing: keep the first error
            log.exception("could not record the last results")
        self.d.channel_context.close()

    # -- decisions in ------------------------------------------------------------------------------

    def _admit(self, chunk: list[tuple[Decision, Account | None, str | None]]) -> list[dict[str, Any]]:
        """Queue the due actions of a chunk of decisions on their lanes; the decisions' JSON, which the
        cycle records (with a ``pending`` row per action) before it claims any of them."""
        outgoing: list[Outgoing] = []
        decisions: list[dict[str, Any]] = []
        for decision, account, missing in chunk:
            actions = [a for a in decision.actions if self._usable(decision, a)]
            if not actions:
                continue
            decision_json = decision.to_dict()
            decision_json["actions"] = [a.to_dict() for a in actions]
            decisions.append(decision_json)
            # read-only once per account: no plugin hook can change what the account's next actions see,
            # and templates render it without copying it again
            account_json = read_only(template_account(account)) if account is not None else read_only({})
            for action, action_json in zip(actions, decision_json["actions"], strict=True):
                out = Outgoing(decision, decision_json, action, action_json, account, account_json)
                out.problem = self._precheck(out, missing)
                outgoing.append(out)
        if not decisions:
            return []
        now = self.d.clock()
        planned: dict[str, int] = {}
        for out in outgoing:
            tally = self.summary.tally(out.channel)
            if out.problem is None and out.action.send_at > now:
                tally.deferred += 1
                continue
            if out.problem is None and out.action.not_after is not None and out.action.not_after <= now:
                tally.expired += 1
                continue
            planned[out.channel] = planned.get(out.channel, 0) + 1
            if out.problem is not None:
                self.failing.append(out)
                continue
            lane = self._lane(out.channel)
            if lane.breaker.is_open:
                tally.paused += 1
                self.d.progress.done(out.channel, 1)
            else:
                lane.backlog.append(out)
        for channel, count in planned.items():
            self.d.progress.planned(channel, count)
        return decisions

    def _usable(self, decision: Decision, action: PlannedAction) -> bool:
        problem = None
        if not action.idempotency_key:
            problem = "action has no idempotency_key: not sent"
        elif len(decision.account_id) > ACCOUNT_ID_MAX:
            problem = (f"invalid_account: account_id is {len(decision.account_id)} characters, longer than the "
                       f"{ACCOUNT_ID_MAX} the ledger stores: not sent")
        if problem is None:
            return True
        self.summary.tally(action.channel).failed += 1
        self.summary.failures.append(Failure(decision.account_id[:ACCOUNT_ID_MAX], action.action, action.channel,
                                             action.idempotency_key, problem))
        return False

    def _precheck(self, out: Outgoing, missing_account: str | None) -> str | None:
        if out.action.send_at.utcoffset() is None:
            return f"invalid_send_at: {out.action.send_at.isoformat()!r} has no UTC offset"
        spec = self.d.channels.get(out.channel)
        if spec is None:
            return f"unknown_channel: no plugin provides channel {out.channel!r}"
        if out.account is None:
            return missing_account or "account_not_found: the account is not in the accounts given to dispatch"
        if spec.contact_point and not getattr(out.account.contact, spec.contact_point):
            return f"no_contact_point: the account has no contact.{spec.contact_point}"
        return None

    def _lane(self, channel: str) -> ChannelLane:
        lane = self.lanes.get(channel)
        if lane is None:
            spec = self.d.channels[channel]
            lane = ChannelLane(
                spec, send=self.d.registry.owner_hook(channel, "policy_engine_send"),
                settings=self.d.settings.get(channel, {}), controls=self.d.controls(channel),
                channel_context=self.d.channel_context, retry=self.d.retry, clock=self.d.clock,
                sleep=self.d.sleep, redactor=self.d.redact, results=self.results,
            )
            self.lanes[channel] = lane
        return lane

    # -- claims and sends --------------------------------------------------------------------------

    def _resend_crashed(self, channel: str) -> bool:
        spec = self.d.channels.get(channel)
        return bool(spec and spec.idempotent_provider)

    def _unclaimed(self, out: Outgoing, outcome: ClaimOutcome) -> None:
        """Count an action whose row could not be claimed."""
        tally = self.summary.tally(out.channel)
        if outcome.state == "delivered":
            tally.already_sent += 1
        elif outcome.state == "failed_permanent" and outcome.fresh:
            tally.held += 1
            self.summary.failures.append(out.failure(outcome.reason, kind="interrupted"))
        elif outcome.state == "failed_permanent":
            tally.failed_earlier += 1
            self.summary.failures.append(out.failure(outcome.reason or "failed_permanent", kind="earlier"))
        else:
            tally.in_flight += 1
        self.d.progress.done(out.channel, 1)

    def _fail_claimed(self, batch: list[Outgoing], claims: Mapping[str, ClaimOutcome]) -> None:
        """Unsendable actions, now claimed: failed permanently with their reason (recorded next cycle)."""
        now = self.d.clock()
        for out in batch:
            outcome = claims[out.key]
            if outcome.claim is None:
                self._unclaimed(out, outcome)
                continue
            reason = str(self.d.redact(out.problem))
            self._settle_later((out, Finish(outcome.claim, "failed_permanent", error=reason, failure="permanent",
                                             attempts=(Attempt("permanent_failure", None, reason, now, now),))))

    def _pause_if_open(self, lane: ChannelLane) -> bool:
        """A lane whose breaker opened gives up its backlog (counted paused, left pending); True if it did."""
        if not (lane.breaker.is_open and lane.backlog):
            return False
        paused = len(lane.backlog)
        tally = self.summary.tally(lane.spec.name)
        tally.paused += paused
        self.summary.paused[lane.spec.name] = str(self.d.redact(lane.breaker.reason))
        lane.backlog.clear()
        self.d.progress.done(lane.spec.name, paused)
        return True

    def _hand_over(self, lane: ChannelLane, batch: list[Outgoing], claims: Mapping[str, ClaimOutcome]) -> None:
        """Render the claimed actions of a batch and hand them to the lane (claims are committed)."""
        for out in batch:
            outcome = claims[out.key]
            if outcome.claim is None:
                self._unclaimed(out, outcome)
                continue
            try:
                message = self.d.render_message(lane.spec, out)
            except TemplateError as exc:
                reason = str(self.d.redact(str(exc)))
                now = self.d.clock()
                self._settle_later((out, Finish(outcome.claim, "failed_permanent", error=reason,
                                                 failure="permanent",
                                                 attempts=(Attempt("permanent_failure", None, reason, now, now),))))
                continue
            if lane.spec.kind == ChannelKind.AGENT and self.d.task_limits is not None and out.account is not None:
                self.d.channel_context.expect_task(out.key, out.action.send_at, out.action.not_after,
                                                   self.d.task_limits(out.account, out.decision, out.action))
            self.d.observe("policy_engine_before_dispatch", decision=out.decision_json, action=out.action_json,
                           channel=lane.spec)
            lane.submit(SendJob(outcome.claim, out, message, out.action_json, out.account_json, out.decision_json,
                                out.action.not_after))

    # -- results back ------------------------------------------------------------------------------

    def _wait_for_result(self, seconds: float) -> None:
        """Wait up to ``seconds`` for a send to come back (it is recorded by a later cycle)."""
        with contextlib.suppress(queue.Empty):
            self._returned(self.results.get(timeout=seconds))

    def _take_results(self) -> None:
        """Take every result off the queue (to record by a later cycle)."""
        while True:
            try:
                self._returned(self.results.get_nowait())
            except queue.Empty:
                return

    def _settle_later(self, settled: tuple[Outgoing, Finish]) -> None:
        if not (self.waiting or self.settled):
            self.since = time.monotonic()
        self.settled.append(settled)

    def _returned(self, outcome: SendOutcome) -> None:
        if not (self.waiting or self.settled):
            self.since = time.monotonic()
        self.waiting.append(outcome)
        channel = outcome.job.outgoing.channel
        self.returned[channel] = self.returned.get(channel, 0) + 1

    def _results(self) -> tuple[list[tuple[Outgoing, Finish]], dict[str, SendOutcome]]:
        """Every result to record now: the sends that came back and the actions settled without a send."""
        self._take_results()
        outcomes, self.waiting, self.returned = self.waiting, [], {}
        finishes, self.settled = self.settled, []
        by_key: dict[str, SendOutcome] = {}
        for outcome in outcomes:
            out: Outgoing = outcome.job.outgoing
            self.lanes[out.channel].in_flight -= 1
            finishes.append((out, self._finish_of(out, outcome)))
            by_key[out.key] = outcome
        return finishes, by_key

    def _finish_of(self, out: Outgoing, outcome: SendOutcome) -> Finish:
        claim = outcome.job.claim
        attempts = tuple(outcome.attempts)
        result = outcome.result
        provider_id = result.provider_id if result is not None else None
        if outcome.kind == "delivered":
            assert result is not None
            return Finish(claim, "delivered", provider_id=provider_id, attempts=attempts,
                          event=self._event(out, result.outcome or "sent", provider_id))
        if outcome.kind == "permanent":
            return Finish(claim, "failed_permanent", provider_id=provider_id, error=outcome.detail,
                          failure="permanent", attempts=attempts, event=self._event(out, "failed", provider_id))
        if outcome.kind == "ambiguous":
            reason = HELD_AMBIGUOUS.format(detail=outcome.detail.removeprefix("ambiguous: "))
            return Finish(claim, "failed_permanent", provider_id=provider_id, error=reason, failure="ambiguous",
                          attempts=attempts, event=self._event(out, "failed", provider_id, held="ambiguous"))
        if outcome.kind == "transient":
            return Finish(claim, "failed_transient", provider_id=provider_id, error=outcome.detail,
                          failure="transient", attempts=attempts)
        return Finish(claim, "pending", attempts=attempts)  # released (paused) or expired: never sent

    def _settle(self, finishes: list[tuple[Outgoing, Finish]], outcomes: Mapping[str, SendOutcome],
                recorded: set[int]) -> None:
        """Count the results the cycle recorded (and the claims lost to another run), tell the observers."""
        for out, finish in finishes:
            tally = self.summary.tally(out.channel)
            self.d.progress.done(out.channel, 1)
            if finish.claim.dispatch_id not in recorded:
                log.warning("dispatch %s: claim lost to another run; its result was not recorded here", out.key)
                tally.in_flight += 1
                continue
            outcome = outcomes.get(out.key)
            kind = outcome.kind if outcome is not None else "permanent"
            if kind == "delivered":
                tally.sent += 1
            elif kind == "released":
                tally.paused += 1
                lane = self.lanes[out.channel]
                self.summary.paused[out.channel] = str(self.d.redact(lane.breaker.reason))
            elif kind == "expired":
                tally.expired += 1
            elif kind == "ambiguous":
                tally.held += 1
                self.summary.failures.append(out.failure(finish.error or "ambiguous", kind="ambiguous"))
            else:
                tally.failed += 1
                self.summary.failures.append(out.failure(finish.error or kind, kind=kind))
            log.info("dispatch %s on %s: %s", out.key, out.channel, finish.state)
            if outcome is not None and outcome.result is not None:
                spec = self.d.channels.get(out.channel)
                self.d.observe("policy_engine_after_dispatch", decision=out.decision_json, action=out.action_json,
                               channel=spec, result=outcome.result)
        if self.lanes:
            for channel, lane in self.lanes.items():
                if lane.breaker.is_open and channel not in self.summary.paused:
                    self.summary.paused[channel] = str(self.d.redact(lane.breaker.reason))

    # -- history events ----------------------------------------------------------------------------

    def _event(self, out: Outgoing, outcome: str, provider_id: str | None, held: str | None = None) -> dict[str, Any]:
        spec = self.d.channels.get(out.channel)
        return contact_event(spec, out.decision.account_id, out.channel, out.action.action, out.action.notice,
                              out.key, outcome, provider_id, utc_iso(self.d.clock()), held)

    def _interrupted_event(self, row: Mapping[str, Any]) -> dict[str, Any]:
        spec = self.d.channels.get(str(row["channel"]))
        return contact_event(spec, str(row["account_id"]), str(row["channel"]), str(row["action"]),
                              row.get("notice"), str(row["idempotency_key"]), "failed", row.get("provider_id"),
                              utc_iso(self.d.clock()), "interrupted")
