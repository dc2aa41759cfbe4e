"""Input data: validated account and history records, streaming readers, and history queries."""

from __future__ import annotations

from policy_engine.data.history import HistoryIndex, HistoryView, PromiseState
from policy_engine.data.readers import (
    ALLOWED_SUFFIXES,
    Rejects,
    UnknownFieldsWarning,
    read_accounts,
    read_history,
)
from policy_engine.data.records import Account, Consent, Contact, Flags, HistoryEvent

__all__ = [
    "ALLOWED_SUFFIXES",
    "Account",
    "Consent",
    "Contact",
    "Flags",
    "HistoryEvent",
    "HistoryIndex",
    "HistoryView",
    "PromiseState",
    "Rejects",
    "UnknownFieldsWarning",
    "read_accounts",
    "read_history",
]
