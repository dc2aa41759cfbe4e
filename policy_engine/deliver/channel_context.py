"""The :class:`~policy_engine.hookspecs.ChannelContext` dispatch lends a channel, over the ledger.

The rule it keeps: a channel plugin sees only what a send may need (open an agent task, read the
account's recorded history, keep a pooled client for the length of a dispatch), never the ledger's
claims, dispatch rows or transactions. It is called from several sender threads at once.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any, TypeVar

from policy_engine.ledger import AgentQueue, Ledger

__all__ = ["LedgerChannelContext"]

log = logging.getLogger(__name__)
T = TypeVar("T")


class LedgerChannelContext:
    """Agent tasks in the ledger's queue, the account history the ledger recorded, shared clients."""

    def __init__(self, ledger: Ledger) -> None:
        self._ledger = ledger
        self._tasks = AgentQueue(ledger)
        self._shared: dict[str, Any] = {}
        self._lock = threading.Lock()
        self._expected: dict[str, tuple[datetime | None, datetime | None, Mapping[str, Any]]] = {}

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
        """Queue a task for a person, once per idempotency key: (task id, whether it was opened now).

        The task carries the window it may be worked in and the limits ``queue claim`` checks again,
        as dispatch planned them for this action (see :meth:`expect_task`).
        """
        not_before, not_after, limits = self._expected.pop(idempotency_key, (None, None, {}))
        return self._tasks.create(
            idempotency_key=idempotency_key, account_id=account_id, action=action, channel=channel,
            message=message, subject=subject, template=template, payload=payload,
            not_before=not_before, not_after=not_after, limits=limits,
        )

    def expect_task(self, idempotency_key: str, not_before: datetime | None, not_after: datetime | None,
                    limits: Mapping[str, Any]) -> None:
        """Dispatch tells which window and limits the task of this action carries (before its send)."""
        self._expected[idempotency_key] = (not_before, not_after, limits)

    def account_history(self, account_id: str) -> list[dict[str, Any]]:
        """The history events recorded for an account, oldest first."""
        return list(self._ledger.iter_history(account_id))

    def shared(self, name: str, factory: Callable[[], T]) -> T:
        """The object ``factory`` makes, made once per dispatch under ``name`` (a pooled client, an SMTP
        session pool) and shared by every send; its ``close()`` is called when the dispatch ends."""
        with self._lock:
            if name not in self._shared:
                self._shared[name] = factory()
            return self._shared[name]

    def close(self) -> None:
        """Close every shared object (dispatch calls this when it ends)."""
        with self._lock:
            shared, self._shared = self._shared, {}
        for name, value in shared.items():
            closer = getattr(value, "close", None)
            if callable(closer):
                try:
                    closer()
                except Exception:  # closing a client must not hide the run's result
                    log.exception("closing the shared %s failed", name)
        with contextlib.suppress(Exception):
            self._expected.clear()
