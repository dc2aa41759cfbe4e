"""An action on its way out of dispatch, and the history event its send records."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from policy_engine.data.records import Account
from policy_engine.decide.decision import Decision, PlannedAction
from policy_engine.deliver.summary import Failure
from policy_engine.hookspecs import ChannelSpec
from policy_engine.policy.channels import ChannelKind

__all__ = ["Outgoing", "contact_event"]


@dataclass
class Outgoing:
    """One action on its way out, typed, with the JSON forms the ledger and the hooks receive."""

    decision: Decision
    decision_json: dict[str, Any]
    action: PlannedAction
    action_json: dict[str, Any]
    account: Account | None
    account_json: Mapping[str, Any]
    problem: str | None = None
    """Why it cannot be sent at all (found before the claim): it is claimed and failed permanently."""

    @property
    def key(self) -> str:
        """Its idempotency key."""
        return self.action.idempotency_key

    @property
    def channel(self) -> str:
        """Its channel's name."""
        return self.action.channel

    def failure(self, error: str, *, kind: str = "permanent") -> Failure:
        """This action as a reported failure."""
        return Failure(self.decision.account_id, self.action.action, self.action.channel, self.key, error,
                       retryable=kind == "transient", earlier=kind == "earlier", kind=kind)


def contact_event(spec: ChannelSpec | None, account_id: str, channel: str, action: str, notice: str | None,
                  key: str, outcome: str, provider_id: str | None, at: str, held: str | None) -> dict[str, Any]:
    """The history event of a send. A held send (it may have gone out) is a ``failed`` contact: it counts
    against caps like any attempt and serves no notice until a person settles it."""
    event: dict[str, Any] = {
        "account_id": account_id, "at": at, "type": "contact", "channel": channel, "outcome": outcome,
        "action": action, "notice": notice, "idempotency_key": key, "provider_id": provider_id,
    }
    if held:
        event["held"] = held
    if spec is not None and (not spec.counts_as_attempt or spec.kind == ChannelKind.AGENT):
        # a referral or a webhook reaches no one; an agent task counts when the person has called
        # (completing the task records that call with its real outcome)
        event["counts_as_attempt"] = False
    return event
