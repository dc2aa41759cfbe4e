"""Generated portfolios for the differential tests: hypothesis batches gathered per ``as_of``.

A plan decides a whole portfolio at once, so the differential tests draw many batches first and decide
them together; each account id is made unique across the batches of one ``as_of``.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from policy_engine.data.records import Account, HistoryEvent

Portfolio = list[tuple[Account, list[HistoryEvent]]]
Drawn = dict[datetime, Portfolio]


def draw_portfolios(strategy: Callable[[], st.SearchStrategy[tuple[datetime, Portfolio]]],
                    examples: int) -> Drawn:
    """``examples`` batches of ``strategy()`` (deterministic draws), the accounts grouped by ``as_of``."""
    drawn: Drawn = {}

    @settings(max_examples=examples, deadline=None, derandomize=True, database=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                     HealthCheck.large_base_example])
    @given(batch=strategy())
    def collect(batch: tuple[datetime, Portfolio]) -> None:
        as_of, accounts = batch
        group = drawn.setdefault(as_of, [])
        for account, events in accounts:
            unique = f"{account.account_id}-{len(group)}"
            group.append((account.model_copy(update={"account_id": unique}),
                          [event.model_copy(update={"account_id": unique}) for event in events]))

    collect()
    return drawn
