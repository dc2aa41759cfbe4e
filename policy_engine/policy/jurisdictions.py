"""Which shipped baseline a jurisdiction's accounts must be decided under.

A policy that says it is for a jurisdiction (``policy.jurisdiction``) or that governs accounts of a region
(``policy.applies_to`` naming regions) must extend that jurisdiction's baseline: a US policy without
Regulation F would decide with no Reg F guardrail at all. Every US state and territory needs at least
``us-reg-f``; Massachusetts and New York City have their own baselines on top of it.
"""

from __future__ import annotations

from policy_engine.policy.conditions import Condition, iter_compares

__all__ = ["REGION_BASELINES", "baseline_for", "regions_named"]

REGION_BASELINES: dict[str, str] = {
    "US": "us-reg-f",
    "US-MA": "us-ma",
    "US-NYC": "us-nyc",
    "CN": "cn",
    "UK": "uk-conc",
    "GB": "uk-conc",
    "IE": "ie",
    "IN": "in",
}
"""Region (or jurisdiction) code -> the baseline that governs it."""


def baseline_for(region: str) -> str | None:
    """The shipped baseline a region's accounts need, or None when policy-engine ships none for it."""
    found = REGION_BASELINES.get(region.upper())
    if found is None and region.upper().startswith("US-"):
        return REGION_BASELINES["US"]  # every state and territory: at least Regulation F
    return found


def regions_named(condition: Condition | None) -> list[str]:
    """The regions an ``applies_to`` condition names with ``region = X`` or ``region = { in = [...] }``."""
    found: list[str] = []
    for compare in iter_compares(condition):
        if compare.fact != "region" or compare.op not in ("eq", "in"):
            continue
        values = compare.value if isinstance(compare.value, tuple) else (compare.value,)
        found.extend(value for value in values if isinstance(value, str))
    return found
