"""The policy language: models, conditions, loader (extends, tighten-only merge), checks, locations."""

from __future__ import annotations

from policy_engine.policy.conditions import Condition, parse_condition
from policy_engine.policy.loader import LoadedPolicy, load_policy
from policy_engine.policy.models import PolicyFile

__all__ = ["Condition", "LoadedPolicy", "PolicyFile", "load_policy", "parse_condition"]
