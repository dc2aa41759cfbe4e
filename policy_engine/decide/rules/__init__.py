"""Rule backends: `compiled` (Python closures) and `durable` (durable_rules), identical by contract; and
`columnar`, which decides whole portfolios with a relational plan (policy_engine.decide.columnar) and one
account (``explain``) with the compiled rules; `spark`, the same plan run by Apache Spark."""

from __future__ import annotations

from typing import TYPE_CHECKING

from policy_engine.decide.rules.base import NamedCondition, RuleSet, rules_of
from policy_engine.decide.rules.compiled import CompiledRuleSet

if TYPE_CHECKING:
    from policy_engine.policy.loader import LoadedPolicy

__all__ = ["BACKENDS", "DEFAULT_BACKEND", "NamedCondition", "RuleSet", "build_ruleset", "rules_of"]

BACKENDS = ("compiled", "durable", "columnar", "spark")
DEFAULT_BACKEND = "compiled"


def build_ruleset(loaded: LoadedPolicy, backend: str = DEFAULT_BACKEND) -> RuleSet:
    """Compile a loaded policy's conditions with the chosen backend."""
    rules = rules_of(loaded.policy)
    if backend in ("compiled", "columnar", "spark"):  # the plan decides one account (explain) with these rules
        return CompiledRuleSet(rules)
    if backend == "durable":
        from policy_engine.decide.rules.durable import DurableRuleSet  # noqa: PLC0415  (heavy import, on demand)

        return DurableRuleSet(rules, name=f"policy_{loaded.digest.split(':')[-1][:16]}")
    raise ValueError(f"unknown backend '{backend}' (choose {', '.join(BACKENDS)})")
