"""The plan's result rows as the Decision objects the row engine makes (so the JSON is the same bytes).

Two ordered streams are merged by the account's input position: ``decided`` (one row per account) and
``verdicts`` (one row per candidate, in the order the guardrails took them). Both are fetched in chunks.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from policy_engine.decide.columnar.plan import Plan
from policy_engine.decide.decision import Decision, PlannedAction, Suppression
from policy_engine.decide.engine import idempotency_key, offer_terms
from policy_engine.guardrails import content_rules_for
from policy_engine.policy.loader import LoadedPolicy

__all__ = ["DecisionWriter"]


def _rows(connection: Any, query: str, size: int) -> Iterator[tuple[Any, ...]]:
    cursor = connection.cursor()
    cursor.execute(query)
    while True:
        chunk = cursor.fetchmany(size)
        if not chunk:
            break
        yield from chunk
    cursor.close()


def _instant(utc: datetime, offset_seconds: int) -> datetime:
    return utc.replace(tzinfo=UTC).astimezone(timezone(timedelta(seconds=offset_seconds)))


class DecisionWriter:
    """Builds each account's Decision from its plan rows."""

    def __init__(self, loaded: LoadedPolicy, plan: Plan, as_of: datetime) -> None:
        self.loaded = loaded
        self.plan = plan
        self.as_of = as_of
        self.stamp = loaded.stamp()
        policy = loaded.policy
        self.policy_id = policy.policy.id
        self.hold_ids = [hold.id for hold in policy.holds]
        self.offer_ids = [offer.id for offer in policy.offers]
        self.offer_terms = {offer.id: offer_terms(offer) for offer in policy.offers}
        self.specs = {spec.candidate.action: spec for spec in plan.candidates}
        self.pause = bool(policy.guardrails.pause_while_promise_active)
        self.has_segments = bool(policy.segments)
        self._content: dict[str, tuple[str, ...]] = {}

    def _content_rules(self, channel: str) -> tuple[str, ...]:
        rules = self._content.get(channel)
        if rules is None:
            rules = self._content[channel] = content_rules_for(self.loaded.policy.guardrails, channel,
                                                               self.loaded.channels)
        return rules

    def _account_query(self) -> str:
        holds = "".join(f", {self.plan.hold_active(hold)}" for hold in self.hold_ids)
        offers = "".join(f", offer_{index}" for index in range(len(self.offer_ids)))
        promise = (", promise_active_count, promise_escalation_at_utc, promise_escalation_offset"
                   if self.plan.facts.promises else ", 0, NULL, NULL")
        return (f"SELECT position, account_id, in_scope, dpd, segment, stage, today{promise}, variant{holds}{offers} "
                "FROM decided ORDER BY position")

    def decisions(self, connection: Any, size: int) -> Iterator[tuple[int, Decision]]:
        """(input position, decision) for every account, in input order."""
        verdicts = _rows(connection, "SELECT position, action, channel, priority, action_stage, verdict, reason, "
                         "detail, source, send_at, not_after FROM verdicts ORDER BY position, rank", size)
        pending = next(verdicts, None)
        for row in _rows(connection, self._account_query(), size):
            position = row[0]
            mine: list[tuple[Any, ...]] = []
            while pending is not None and pending[0] == position:
                mine.append(pending)
                pending = next(verdicts, None)
            yield position, self._decision(row, mine)

    def _decision(self, row: tuple[Any, ...], verdicts: list[tuple[Any, ...]]) -> Decision:
        account_id, in_scope, dpd, segment, stage, today, active, escalation_at, escalation_offset, variant = row[1:11]
        flags = row[11:]
        if not in_scope:
            return Decision(account_id=account_id, as_of=self.as_of, policy=self.stamp, dpd=dpd, segment=None,
                            stage=None, holds=[], actions=[], suppressed=[], in_scope=False)
        holds = {hold for hold, held in zip(self.hold_ids, flags, strict=False) if held}
        if self.pause and active:
            holds.add("promise_active")
        offers = [offer for offer, held in zip(self.offer_ids, flags[len(self.hold_ids):], strict=True) if held]
        day = today.isoformat()
        planned: list[PlannedAction] = []
        suppressed: list[Suppression] = []
        for _, action, channel, priority, action_stage, verdict, reason, detail, source, send_at, not_after \
                in verdicts:
            if verdict:
                suppressed.append(Suppression(action, channel, reason, detail, source))
                continue
            spec = self.specs[action]
            candidate = spec.candidate
            suffix = f"promise:{_instant(escalation_at, escalation_offset).isoformat()}" if spec.escalation else ""
            offer = self.offer_terms[candidate.offer] if candidate.offer and candidate.offer in offers else None
            planned.append(PlannedAction(
                action, channel, candidate.template, datetime.fromisoformat(send_at), candidate.notice, offer,
                idempotency_key(self.policy_id, account_id, action, day, suffix), priority, action_stage,
                self._content_rules(channel),
                not_after=datetime.fromisoformat(not_after) if not_after else None))
        planned.sort(key=lambda planned_action: (planned_action.send_at, planned_action.priority,
                                                 planned_action.action))
        return Decision(account_id=account_id, as_of=self.as_of, policy=self.stamp, dpd=dpd,
                        segment=segment if self.has_segments else None, stage=stage, holds=sorted(holds),
                        actions=planned, suppressed=suppressed, offers=offers, variant=variant)
