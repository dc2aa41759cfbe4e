"""What the plan does not cover yet: a policy using it is refused, loudly, never decided another way."""

from __future__ import annotations

from policy_engine._exceptions import UsageError
from policy_engine.policy.loader import LoadedPolicy

__all__ = ["refuse_uncovered", "uncovered"]


def uncovered(loaded: LoadedPolicy) -> list[str]:
    """The constructs of the policy the columnar plan cannot decide yet (empty: it covers the policy)."""
    del loaded  # every construct of the policy language is in the plan
    return []


def refuse_uncovered(loaded: LoadedPolicy) -> None:
    """Raise a one-line usage error naming the first construct the plan does not cover."""
    missing = uncovered(loaded)
    if missing:
        raise UsageError(f"--backend columnar does not cover {missing[0]} yet (policy {loaded.policy.policy.id}); "
                         "use --backend compiled")
