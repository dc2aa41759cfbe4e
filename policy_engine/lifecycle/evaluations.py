"""Each account's evaluations under one or several policies, for the commands that compare or report them.

An evaluation is a :class:`~policy_engine.lifecycle.simulate.SimEvent`: one decision at ``as_of`` (no
span), or one per simulated day (a span). With the row engine each account is evaluated under every policy
before the next is read; with the ``columnar`` backend each policy decides (or simulates) the whole
portfolio in one go, so the accounts are held until the last policy has read them.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import date, datetime, time
from itertools import tee

from policy_engine.data.history import HistoryIndex
from policy_engine.data.records import Account
from policy_engine.decide.engine import Engine
from policy_engine.lifecycle.simulate import SimEvent, simulate

__all__ = ["Span", "evaluations", "evaluations_per_policy"]

Span = tuple[date, time, int]
"""(first local date, local wall time, days) of a simulation."""


def evaluations(engine: Engine, accounts: Iterable[Account], history: HistoryIndex, as_of: datetime,
                span: Span | None) -> Iterator[list[SimEvent]]:
    """Each account's evaluations (input order): its decision at ``as_of``, or its simulated days."""
    if span is None:
        if engine.backend == "columnar":
            decided = engine.decide_many(accounts, history, as_of)
        else:  # the row engine, one account at a time (Spark decides whole portfolios in dry-run only)
            decided = ((account, engine.decide(account, history.for_account(account.account_id), as_of))
                       for account in accounts)
        for account, decision in decided:
            yield [SimEvent(account, 0, as_of.astimezone(engine.zone_of(account)).date(), as_of, decision)]
        return
    start, at, days = span
    steps: list[SimEvent] = []
    for step in simulate(engine, accounts, history, start, days, at):
        if step.day == 0 and steps:  # the next account's first day
            yield steps
            steps = []
        steps.append(step)
    if steps:
        yield steps


def evaluations_per_policy(engines: list[Engine], accounts: Iterable[Account], history: HistoryIndex,
                           as_of: datetime, span: Span | None) -> Iterator[tuple[list[SimEvent], ...]]:
    """For each account (input order), its evaluations under each engine, in the engines' order."""
    streams = [evaluations(engine, copy, history, as_of, span)
               for engine, copy in zip(engines, tee(accounts, len(engines)), strict=True)]
    yield from zip(*streams, strict=True)
