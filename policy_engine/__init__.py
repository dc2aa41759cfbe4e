"""policy-engine: declarative, explainable collection policies for overdue credit-card debt.

The library in one breath::

    from policy_engine import Engine, load_policy, read_accounts, HistoryIndex

    policy = load_policy("policies/examples/cn-card-issuer.toml")
    engine = Engine(policy)                      # backend="compiled" (default) or "durable"
    history = HistoryIndex.load(["examples/portfolio/history.jsonl"])
    for account in read_accounts("examples/portfolio/accounts.jsonl"):
        decision = engine.decide(account, history.for_account(account.account_id), as_of)
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the names below are imported on first use, so `policy-engine --help` starts fast
    from policy_engine._exceptions import (
        InputError,
        InputUnusableError,
        Issue,
        Location,
        PolicyEngineError,
        PolicyError,
        RowError,
    )
    from policy_engine.data.history import HistoryIndex, HistoryView
    from policy_engine.data.readers import Rejects, read_accounts, read_history
    from policy_engine.data.records import Account, HistoryEvent
    from policy_engine.decide.decision import Decision, PlannedAction, Suppression
    from policy_engine.decide.engine import Engine
    from policy_engine.policy.loader import LoadedPolicy, load_policy

__version__ = "0.1.0"

_HOMES = {
    "InputError": "policy_engine._exceptions",
    "InputUnusableError": "policy_engine._exceptions",
    "Issue": "policy_engine._exceptions",
    "Location": "policy_engine._exceptions",
    "PolicyEngineError": "policy_engine._exceptions",
    "PolicyError": "policy_engine._exceptions",
    "RowError": "policy_engine._exceptions",
    "HistoryIndex": "policy_engine.data.history",
    "HistoryView": "policy_engine.data.history",
    "Rejects": "policy_engine.data.readers",
    "read_accounts": "policy_engine.data.readers",
    "read_history": "policy_engine.data.readers",
    "Account": "policy_engine.data.records",
    "HistoryEvent": "policy_engine.data.records",
    "Decision": "policy_engine.decide.decision",
    "PlannedAction": "policy_engine.decide.decision",
    "Suppression": "policy_engine.decide.decision",
    "Engine": "policy_engine.decide.engine",
    "LoadedPolicy": "policy_engine.policy.loader",
    "load_policy": "policy_engine.policy.loader",
}
"""Where each public name lives; :func:`__getattr__` imports it on first use (PEP 562)."""

__all__ = [
    "Account",
    "Decision",
    "Engine",
    "HistoryEvent",
    "HistoryIndex",
    "HistoryView",
    "InputError",
    "InputUnusableError",
    "Issue",
    "LoadedPolicy",
    "Location",
    "PlannedAction",
    "PolicyEngineError",
    "PolicyError",
    "Rejects",
    "RowError",
    "Suppression",
    "__version__",
    "load_policy",
    "read_accounts",
    "read_history",
]


def __getattr__(name: str) -> Any:
    """Import a public name from its home module the first time it is asked for."""
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'policy_engine' has no attribute {name!r}")
    value = getattr(import_module(home), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
