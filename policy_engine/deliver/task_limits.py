"""What ``queue claim`` must check again when a person takes an agent task: the caps the decision saw.

An agent task waits in the queue until a person claims it, possibly hours after the run decided it; in the
meantime other contacts may happen (a voice call placed, another task completed with a conversation). So
the run stores with each task the limits the decision applied to it, as plain data in the task's payload
(``limits``): the account's time zone, a *mark* (the newest ledger history row when the run started), the
idempotency keys of the decision's own actions, and per rule (a cap, the pause after a conversation, the
daily cap) the channels it counts, its window, its maximum and the count the decision saw (contacts in the
window plus the actions planned ahead of the task in the same decision). At claim time the queue adds the
contacts the ledger recorded after the mark, other than the decision's own actions (already counted), and
refuses the task a rule no longer allows, naming the rule. No policy or account file is needed to claim.

The rule this module keeps: it reads the limits from the policy's effective guardrails and the channel
catalogue the engine uses, so the claim counts exactly what the decision counted.
"""

from __future__ import annotations

from typing import Any

from policy_engine.data.history import HistoryIndex, HistoryView
from policy_engine.data.records import Account
from policy_engine.decide.decision import Decision, PlannedAction
from policy_engine.decide.engine import Engine
from policy_engine.ledger import Ledger

__all__ = ["TaskLimitsBuilder"]


class TaskLimitsBuilder:
    """Builds the ``limits`` of an agent task from the engine that decided it (one per run)."""

    def __init__(self, engine: Engine, history: HistoryIndex, ledger: Ledger) -> None:
        self.engine = engine
        self.history = history
        self.mark = ledger.history_mark()

    def __call__(self, account: Account, decision: Decision, action: PlannedAction) -> dict[str, Any]:
        """The limits a claim of ``action``'s task re-checks (see the module doc)."""
        zone = self.engine.zone_of(account)
        view = HistoryView(self.history.for_account(account.account_id), decision.as_of, zone)
        ahead = _planned_ahead(decision, action)
        rules = [*self._pauses(action), *self._caps(account, action, view, ahead), *self._daily_cap(view, ahead)]
        return {"timezone": str(zone), "mark": self.mark, "policy": dict(decision.policy),
                "decision_keys": sorted(a.idempotency_key for a in decision.actions), "rules": rules}

    def _pauses(self, action: PlannedAction) -> list[dict[str, Any]]:
        """The pauses after a conversation that speak of the action's channel."""
        index = self.engine.channels
        rules = []
        for pause in self.engine.policy.guardrails.after_conversation:
            names_some = bool(pause.channels or pause.kinds)
            if names_some and not index.covers(pause.channels, pause.kinds, action.channel):
                continue
            channels = sorted(index.names(pause.channels, pause.kinds)) if names_some else None
            rules.append({"rule": "after_conversation", "channels": channels, "days": pause.days})
        return rules

    def _caps(self, account: Account, action: PlannedAction, view: HistoryView,
              ahead: list[PlannedAction]) -> list[dict[str, Any]]:
        """The caps that count the action, with what they counted when it was decided (history and the
        decision's actions chosen before it)."""
        index = self.engine.channels
        rules = []
        for cap in self.engine.policy.guardrails.caps:
            if cap.regions and account.region not in cap.regions:
                continue
            if not index.covers(cap.channels, cap.kinds, action.channel):
                continue
            names_some = bool(cap.channels or cap.kinds)
            channels = sorted(index.names(cap.channels, cap.kinds)) if names_some else None
            excluding = [] if names_some else sorted(index.not_contacts)
            conversations = cap.count == "conversations"
            past = view.contacts(channels, cap.days, conversations_only=conversations, excluding=excluding)
            planned = 0 if conversations else sum(
                1 for other in ahead if index.covers(cap.channels, cap.kinds, other.channel)
                and index.info(other.channel).counts_as_attempt)
            rules.append({"rule": "frequency_cap", "channels": channels, "excluding": excluding, "days": cap.days,
                          "max": cap.max, "conversations": conversations, "counted": past + planned})
        return rules

    def _daily_cap(self, view: HistoryView, ahead: list[PlannedAction]) -> list[dict[str, Any]]:
        """The daily cap, if the policy has one, with the contacts it counted when the action was decided."""
        limit = self.engine.policy.guardrails.max_contacts_per_day
        if limit is None:
            return []
        index = self.engine.channels
        excluding = sorted(index.not_contacts)
        done = view.contacts_today(None, excluding=excluding)
        planned = sum(1 for other in ahead if index.info(other.channel).counts_as_attempt)
        return [{"rule": "daily_cap", "excluding": excluding, "max": limit, "counted": done + planned}]


def _planned_ahead(decision: Decision, action: PlannedAction) -> list[PlannedAction]:
    """The decision's other actions the engine chose before ``action`` (more important ones first)."""
    ranked = sorted(enumerate(decision.actions), key=lambda item: (item[1].priority, item[0]))
    ahead: list[PlannedAction] = []
    for _, other in ranked:
        if other.idempotency_key == action.idempotency_key:
            break
        ahead.append(other)
    return ahead
