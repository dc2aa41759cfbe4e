"""The policy language: models, conditions, loader (extends, tighten-only merge), checks, locations.

The names below are imported on first use (PEP 562), so importing one module of the package (e.g.
``policy_engine.policy.channels``, which the guardrails use) does not import the loader, which imports
the guardrails: that would be a cycle.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from policy_engine.policy.conditions import Condition, parse_condition
    from policy_engine.policy.loader import LoadedPolicy, load_policy
    from policy_engine.policy.models import PolicyFile

__all__ = ["Condition", "LoadedPolicy", "PolicyFile", "load_policy", "parse_condition"]

_HOMES = {"Condition": "policy_engine.policy.conditions", "parse_condition": "policy_engine.policy.conditions",
          "LoadedPolicy": "policy_engine.policy.loader", "load_policy": "policy_engine.policy.loader",
          "PolicyFile": "policy_engine.policy.models"}


def __getattr__(name: str) -> Any:
    """Import a public name from its home module the first time it is asked for."""
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'policy_engine.policy' has no attribute {name!r}")
    value = getattr(import_module(home), name)
    globals()[name] = value
    return value
