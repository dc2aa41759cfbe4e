"""The longest installment plan a baseline allows (China: personalised plans up to 5 years).

No suppression comes of it: validation rejects an installment or refinance offer longer than the cap,
and under ``extends`` the cap may only be lowered.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from policy_engine.guardrails.base import GuardrailFamily
from policy_engine.policy.origins import OriginKey

if TYPE_CHECKING:
    from policy_engine.guardrails.base import OriginRecorder
    from policy_engine.policy.checks import PolicyChecker
    from policy_engine.policy.merge import Tightening
    from policy_engine.policy.source import SourceFile

__all__ = ["INSTALLMENTS", "Installments"]

MAX_MONTHS = OriginKey("max_installment_months")


class Installments(GuardrailFamily):
    """``max_installment_months``."""

    name = "installments"
    settings = frozenset({"max_installment_months"})

    def record_origins(self, source: SourceFile, record: OriginRecorder) -> None:
        """The cap, if the file sets one."""
        if "max_installment_months" in source.model.guardrails.model_fields_set:
            record(MAX_MONTHS, "guardrails", "max_installment_months")

    def tighten(self, merge: Tightening) -> None:
        """The shorter cap wins; a longer one is a loosening."""
        base = merge.base.guardrails.max_installment_months
        child = merge.child.model.guardrails.max_installment_months
        if child is not None and base is not None and child > base:
            merge.loosens(MAX_MONTHS, ("guardrails", "max_installment_months"),
                          f"raises max_installment_months to {child}; {{base}} allows {base}")
        values = [value for value in (base, child) if value is not None]
        merge.guardrails["max_installment_months"] = min(values) if values else None

    def check_policy(self, checker: PolicyChecker) -> None:
        """No installment or refinance offer runs longer than the cap."""
        cap = checker.policy.guardrails.max_installment_months
        if not cap:
            return
        for index, offer in enumerate(checker.own.offers):
            if offer.kind in ("installment", "refinance") and offer.months and offer.months > cap:
                checker.error(("offers", index, "months"), f"offer '{offer.id}' runs {offer.months} months; the "
                              f"baseline allows at most {cap}", "offer_too_long")


INSTALLMENTS = Installments()
