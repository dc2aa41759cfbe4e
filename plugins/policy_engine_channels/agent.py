"""Tasks for human agents, queued in the ledger (``policy-engine queue list|claim|complete``).

A task is opened through the send's ChannelContext once per idempotency key, so a re-send after a
crash finds the task already there.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from policy_engine.hookspecs import ChannelContext, ChannelSpec, DeliveryResult, Message, hookimpl
from policy_engine.policy.channels import BUILTIN_CHANNELS

SPEC = BUILTIN_CHANNELS["agent"]
"""The channel, as the core's built-in catalogue declares it."""


@hookimpl
def policy_engine_register_channels() -> list[ChannelSpec]:
    """The agent channel."""
    return [SPEC]


@hookimpl
def policy_engine_send(
    channel: ChannelSpec,
    action: Mapping[str, Any],
    account: Mapping[str, Any],
    message: Message,
    decision: Mapping[str, Any],
    channel_context: ChannelContext,
) -> DeliveryResult:
    """Open an agent task (once per idempotency key)."""
    task_id, created = channel_context.open_task(
        idempotency_key=str(action["idempotency_key"]),
        account_id=str(account.get("account_id")),
        action=str(action.get("action")),
        channel=channel.name,
        template=message.template,
        subject=message.subject,
        message=message.text,
        payload={
            "stage": decision.get("stage"),
            "dpd": decision.get("dpd"),
            "segment": decision.get("segment"),
            "offer": action.get("offer"),
            "phone": (account.get("contact") or {}).get("phone"),
            "language": account.get("language"),
        },
    )
    return DeliveryResult(
        "delivered", provider_id=f"task-{task_id}", detail="task opened" if created else "task already open"
    )
