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
