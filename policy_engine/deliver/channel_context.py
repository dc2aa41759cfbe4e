"""The :class:`~policy_engine.hookspecs.ChannelContext` dispatch lends a channel, over the ledger.

The rule it keeps: a channel plugin sees only what a send may need (open an agent task, read the
account's recorded history), never the ledger's claims, dispatch rows or transactions.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from policy_engine.ledger import AgentQueue, Ledger

__all__ = ["LedgerChannelContext"]


class LedgerChannelContext:
    """Agent tasks in the ledger's queue, and the account history the ledger recorded."""

    def __init__(self, ledger: Ledger) -> None:
        self._ledger = ledger
        self._tasks = AgentQueue(ledger)

    def open_task(
        self,
        *,
        idempotency_key: str,
        account_id: str,
        action: str,
        channel: str,
        message: str,
        subject: str | None = None,
        template: str | None = None,
        payload: Mapping[str, Any] | None = None,
    ) -> tuple[int, bool]:
        """Queue a task for a person, once per idempotency key: (task id, whether it was opened now)."""
        return self._tasks.create(
            idempotency_key=idempotency_key, account_id=account_id, action=action, channel=channel,
            message=message, subject=subject, template=template, payload=payload,
        )

    def account_history(self, account_id: str) -> list[dict[str, Any]]:
        """The history events recorded for an account, oldest first."""
        return list(self._ledger.iter_history(account_id))
