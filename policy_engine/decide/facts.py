"""Facts about one account at ``as_of``: what conditions compare against.

Account fields come from the record; derived facts (contacts in a window, promises, notices) come from
its history through :class:`~policy_engine.data.history.HistoryView`. Values are computed on first use
and cached for the account.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any
from zoneinfo import ZoneInfo

from policy_engine.data.history import HistoryView, PromiseState
from policy_engine.data.records import Account, HistoryEvent
from policy_engine.policy.conditions import Compare

__all__ = ["ACCOUNT_FIELDS", "FactContext", "compare_values", "dpd_at"]

_MISSING = object()

ServedOn = Callable[[HistoryView, str, "str | None"], "date | None"]
"""How the policy dates the service of a notice: (history, notice id, account region) -> local day."""


def dpd_at(account: Account, today: Any) -> int:
    """Days past due on the local date ``today``: never negative, 0 when not delinquent."""
    if account.delinquent_since is None:
        return 0
    return max(0, (today - account.delinquent_since).days)


class FactContext:
    """Lazily computed, cached facts of one account at one instant."""

    def __init__(self, account: Account, events: tuple[HistoryEvent, ...], as_of: datetime, tz: ZoneInfo,
                 promise_grace_days: int = 0, served: ServedOn | None = None) -> None:
        self.account = account
        self.view = HistoryView(events, as_of, tz)
        self.as_of = as_of
        self.tz = tz
        self.today = self.view.today
        self.dpd = dpd_at(account, self.today)
        self.grace = promise_grace_days
        self.segment: str | None = None
        self._cache: dict[tuple[str, tuple[tuple[str, Any], ...]], Any] = {}
        self._flags: frozenset[str] | None = None
        self._served = served

    @property
    def flags(self) -> frozenset[str]:
        """Flags set on the record or opened by history events (dispute, cease request, hardship)."""
        if self._flags is None:
            self._flags = frozenset(self.account.flags.active()) | frozenset(self.view.event_holds())
        return self._flags

    @property
    def active_promise(self) -> PromiseState | None:
        """The running promise to pay, if any (computed once per account)."""
        cached = self._cache.get(("$active_promise", ()), _MISSING)
        if cached is _MISSING:
            cached = self._cache[("$active_promise", ())] = self.view.active_promise(self.grace)
        return cached

    def served_on(self, notice_id: str) -> date | None:
        """The local day a notice was served: as the policy's service rules say, else when it went out."""
        if self._served is None:
            return self.view.notice_delivered_on(notice_id)
        return self._served(self.view, notice_id, self.account.region)

    def consent(self, channel: str) -> bool | None:
        """Consent for ``channel``: the latest consent event wins over the record; None when unknown."""
        override = self.view.consent_override(channel)
        return override if override is not None else self.account.consent.get(channel)

    def value(self, fact: str, params: tuple[tuple[str, Any], ...] = ()) -> Any:
        """The value of ``fact`` (with its parameters), or None when the account has none."""
        key = (fact, params)
        cached = self._cache.get(key, _MISSING)
        if cached is not _MISSING:
            return cached
        result = self._compute(fact, dict(params))
        self._cache[key] = result
        return result

    def _compute(self, fact: str, params: dict[str, Any]) -> Any:
        account = self.account
        view = self.view
        field = ACCOUNT_FIELDS.get(fact)
        if field is not None:
            return field(self)
        if fact == "days_since_last_payment":
            return view.days_since_last_payment()
        if fact == "days_since_last_conversation":
            return view.days_since_last_conversation(params.get("channels"))
        if fact == "active_promise":
            return self.active_promise is not None
        if fact == "broken_promises":
            return view.broken_promises(self.grace, params.get("days"))
        if fact == "contacts":
            return view.contacts(params.get("channels"), params["days"])
        if fact == "conversations":
            return view.contacts(params.get("channels"), params["days"], conversations_only=True)
        if fact == "notices_sent":
            return view.notices_sent(params.get("notice"))
        if fact == "days_since_notice":
            served = self.served_on(params["notice"])
            return None if served is None else (self.today - served).days
        ns, _, name = fact.partition(".")
        if ns == "flags":
            return name in self.flags
        if ns == "consent":
            return self.consent(name)
        if ns == "contact":
            return getattr(account.contact, name, None) or None
        if ns == "attributes":
            raw = account.attributes.get(name)
            return Decimal(str(raw)) if isinstance(raw, float) else raw
        raise KeyError(fact)

    def evaluate(self, cmp: Compare) -> tuple[bool, Any]:
        """Whether a comparison holds, and the value it saw."""
        actual = self.value(cmp.fact, cmp.params)
        return compare_values(cmp.op, actual, cmp.value), actual


ACCOUNT_FIELDS: dict[str, Callable[[FactContext], Any]] = {
    "dpd": lambda ctx: ctx.dpd,
    "balance": lambda ctx: ctx.account.balance,
    "amount_past_due": lambda ctx: ctx.account.past_due,
    "minimum_due": lambda ctx: ctx.account.minimum_due,
    "credit_score": lambda ctx: ctx.account.credit_score,
    "prior_delinquencies": lambda ctx: ctx.account.prior_delinquencies,
    "region": lambda ctx: ctx.account.region,
    "product": lambda ctx: ctx.account.product,
    "language": lambda ctx: ctx.account.language,
    "currency": lambda ctx: ctx.account.currency,
    "segment": lambda ctx: ctx.segment,
}
"""Facts read straight from the record: the compiled backend skips the cache for these."""


def compare_values(op: str, actual: Any, expected: Any) -> bool:
    """Apply one operator. A missing value satisfies nothing but ``exists = false``."""
    if op == "exists":
        return (actual is not None) is expected
    if actual is None:
        return False
    try:
        if op == "eq":
            return bool(actual == expected)
        if op == "ne":
            return bool(actual != expected)
        if op == "lt":
            return bool(actual < expected)
        if op == "lte":
            return bool(actual <= expected)
        if op == "gt":
            return bool(actual > expected)
        if op == "gte":
            return bool(actual >= expected)
        if op == "in":
            return actual in expected
        if op == "not_in":
            return actual not in expected
    except (TypeError, InvalidOperation):  # text compared with a number; a NaN attribute
        return False
    raise ValueError(f"unknown operator {op}")
