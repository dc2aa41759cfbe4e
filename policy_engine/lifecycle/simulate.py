"""Simulate a policy over a span of days: decide every local day, assume delivery, feed contacts back.

The simulation is account by account (accounts never influence each other), day by day:

* Day ``i`` (0-based) of an account is the local date ``start + i`` in the account's time zone (its
  ``timezone``, else the policy's); it is evaluated once, at the local wall time ``at``.
* Input history events take effect when their time comes: an evaluation sees only events with
  ``at <= as_of`` (a payment dated day 40 is unknown on day 39; a dispute opened on day 10 holds contact
  from the first evaluation at or after it).
* Payments dated on or after the start date (local) are also applied to the account record, since the
  record is taken as the state at the start: ``balance`` and ``amount_past_due`` go down by the amount
  (never below 0), and once nothing is past due the account is cured (``delinquent_since`` cleared, so
  DPD is 0). A payment without an amount changes no balance. Earlier payments are assumed to be in the
  record already.
* Every planned action is assumed delivered at its ``send_at`` and becomes a ``contact`` event of the
  account's history (``action``, ``notice``, ``channel``, ``at = send_at``) with outcome ``no_answer``
  for channels of kind ``call`` or ``agent`` and ``delivered`` otherwise - unless the input history already records
  that contact: an input contact event of the same local day, not yet visible at ``as_of``, with the
  same ``action`` (or, when it names no action, the same ``channel``). That event then stands for the
  contact (its outcome, e.g. a call's ``conversation``, is the one used; an event without an action is
  taken as this action's) and no new event is written.

Output is deterministic: accounts in input order, days in order, contacts in the decision's order.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import IO, Final
from zoneinfo import ZoneInfo

from policy_engine.data.history import HistoryIndex
from policy_engine.data.records import Account, HistoryEvent, Outcome
from policy_engine.decide.decision import Decision, PlannedAction
from policy_engine.decide.engine import Engine
from policy_engine.guardrails.base import CALL_KINDS
from policy_engine.policy.channels import ChannelKind, ChannelSpec

__all__ = [
    "DEFAULT_AT",
    "SimContact",
    "SimEvent",
    "channel_info",
    "contact_outcome",
    "simulate",
    "start_of",
    "arrivals",
    "make_contacts",
    "split_at_start",
    "with_payments",
    "write_contacts",
]

DEFAULT_AT: Final = time(9, 0)


@dataclass(frozen=True)
class SimContact:
    """One contact the simulation made: the planned action and the history event that records it."""

    planned: PlannedAction
    event: HistoryEvent
    recorded: bool = False
    """True when the input history already held this contact (its event and outcome were used)."""


@dataclass(frozen=True)
class SimEvent:
    """One evaluation of the simulation: one account on one simulated local day."""

    account: Account
    """The account as evaluated (payments that came due are applied)."""
    day: int
    """0-based day of the span (day 0 is ``start``)."""
    date: date
    """The account's local date."""
    as_of: datetime
    """The evaluation instant (local ``at`` on ``date``, with the account's UTC offset)."""
    decision: Decision
    contacts: tuple[SimContact, ...] = ()
    """The contacts made from the decision's planned actions, in the decision's order."""
    arrived: tuple[HistoryEvent, ...] = field(default_factory=tuple)
    """Input history events that took effect since the previous evaluation (on day 0: since the start)."""

    @property
    def new_events(self) -> tuple[HistoryEvent, ...]:
        """The contact events this evaluation added to the history (those not already in the input)."""
        return tuple(c.event for c in self.contacts if not c.recorded)


def channel_info(engine: Engine, channel: str) -> ChannelSpec:
    """What the policy's channel catalogue says of ``channel`` (an unknown channel counts as text)."""
    return engine.loaded.channels.get(channel) or ChannelSpec(channel, ChannelKind.TEXT)


def contact_outcome(info: ChannelSpec) -> Outcome:
    """The assumed outcome of a contact: ``no_answer`` for calls (an agent's call too), ``delivered`` for
    everything else."""
    return "no_answer" if info.kind in CALL_KINDS else "delivered"


def start_of(as_of: datetime, zone: ZoneInfo) -> tuple[date, time]:
    """``(start, at)`` for a span starting at ``as_of``: its local date and wall time in ``zone``."""
    local = as_of.astimezone(zone)
    return local.date(), local.time().replace(tzinfo=None)


def simulate(engine: Engine, accounts: Iterable[Account], history_index: HistoryIndex | None,
             start: date, days: int, at: time = DEFAULT_AT, *, explain: bool = False) -> Iterator[SimEvent]:
    """Simulate ``days`` local days of ``engine``'s policy for every account; yield one SimEvent per day.

    How to call it::

        from datetime import date, time
        from policy_engine.data.history import HistoryIndex
        from policy_engine.decide.engine import Engine
        from policy_engine.policy.loader import load_policy
        from policy_engine.lifecycle.simulate import simulate

        engine = Engine(load_policy("bank.toml"))
        history = HistoryIndex.from_events(events)          # or HistoryIndex.load(path); None = empty
        for step in simulate(engine, accounts, history, date(2026, 11, 28), 30, time(9, 0)):
            step.decision          # the engine's Decision for step.account on step.date at step.as_of
            step.contacts          # SimContact(planned, event, recorded) per planned action
            step.new_events        # the contact HistoryEvents to write (to_json_dict()) or feed back

    ``start`` is a calendar date and ``at`` a naive wall-clock time, both read in each account's own time
    zone (account.timezone, else the policy's): day ``i`` is evaluated at ``at`` on ``start + i`` local.
    To simulate from a policy test's ``as_of`` use ``start, at = start_of(as_of, engine.zone_of(account))``.
    ``days`` must be at least 1. Events are yielded account by account (input order), each account's days
    in order; ``accounts`` is consumed lazily, one account at a time - except with an engine on the
    ``columnar`` backend (and no ``explain``): the plan then decides the whole portfolio once per simulated
    day (:mod:`policy_engine.lifecycle.simulate_columnar`), reading every account first. ``history_index``
    is only read: the simulation keeps each account's growing history to itself. ``explain=True`` adds
    traces to decisions. See the module docstring for how history events, payments and contact outcomes are applied.
    """
    if days < 1:
        raise ValueError(f"days must be at least 1, got {days}")
    index = history_index if history_index is not None else HistoryIndex()
    if engine.backend == "columnar" and not explain:  # one plan evaluation per day for the whole portfolio
        from policy_engine.lifecycle.simulate_columnar import simulate_columnar  # noqa: PLC0415  (loads DuckDB)

        yield from simulate_columnar(engine, accounts, index, start, days, at)
        return
    for account in accounts:
        yield from _simulate_account(engine, account, index.for_account(account.account_id), start, days, at,
                                     explain)


def _simulate_account(engine: Engine, account: Account, input_events: tuple[HistoryEvent, ...], start: date,
                      days: int, at: time, explain: bool) -> Iterator[SimEvent]:
    zone = engine.zone_of(account)
    history, pending = split_at_start(input_events, start, zone)
    payments: list[HistoryEvent] = []
    for day in range(days):
        local_day = start + timedelta(days=day)
        as_of = datetime.combine(local_day, at, tzinfo=zone)
        arrived, pending = arrivals(pending, as_of)
        history.extend(arrived)
        payments.extend(e for e in arrived if e.type == "payment")
        state = with_payments(account, payments)
        decision = engine.decide(state, history, as_of, explain)
        contacts = make_contacts(engine, account.account_id, decision, pending, zone)
        history.extend(contact.event for contact in contacts)
        yield SimEvent(state, day, local_day, as_of, decision, tuple(contacts), tuple(arrived))


def split_at_start(input_events: Iterable[HistoryEvent], start: date,
                   zone: ZoneInfo) -> tuple[list[HistoryEvent], list[HistoryEvent]]:
    """(history, pending): an account's input events (in time order) before the local start date, and the
    ones from it on, which arrive one by one as their time comes."""
    begin = datetime.combine(start, time(0, 0), tzinfo=zone)
    events = list(input_events)
    return [e for e in events if e.at < begin], [e for e in events if e.at >= begin]


def arrivals(pending: list[HistoryEvent], as_of: datetime) -> tuple[list[HistoryEvent], list[HistoryEvent]]:
    """(arrived, still pending): the pending events (in time order) that took effect at ``as_of``."""
    arrived = [e for e in pending if e.at <= as_of]
    return arrived, pending[len(arrived):] if arrived else pending


def make_contacts(engine: Engine, account_id: str, decision: Decision, pending: list[HistoryEvent],
                  zone: ZoneInfo) -> list[SimContact]:
    """The contacts of a decision's planned actions, in its order: an input contact that records one (taken
    out of ``pending``), else a new event with the assumed outcome."""
    contacts: list[SimContact] = []
    for planned in decision.actions:
        found = _recorded_contact(pending, planned, zone)
        if found is not None:
            pending.remove(found)
            if found.action is None:  # the recorded contact is this action's contact
                found = found.model_copy(update={"action": planned.action, "notice": planned.notice})
            contacts.append(SimContact(planned, found, recorded=True))
            continue
        contacts.append(SimContact(planned, _contact_event(engine, account_id, planned)))
    return contacts


def _recorded_contact(pending: list[HistoryEvent], planned: PlannedAction,
                      zone: ZoneInfo) -> HistoryEvent | None:
    """The input contact event that already records ``planned`` (same local day, same action/channel)."""
    day = planned.send_at.astimezone(zone).date()
    for event in pending:
        if event.type != "contact" or event.at.astimezone(zone).date() != day:
            continue
        if event.action == planned.action or (event.action is None and event.channel == planned.channel):
            return event
    return None


def _contact_event(engine: Engine, account_id: str, planned: PlannedAction) -> HistoryEvent:
    return HistoryEvent(account_id=account_id, at=planned.send_at, type="contact", channel=planned.channel,
                        outcome=contact_outcome(channel_info(engine, planned.channel)),
                        action=planned.action, notice=planned.notice)


def with_payments(account: Account, payments: list[HistoryEvent]) -> Account:
    """The account after the payments made since the start: lower balances; cured when nothing is past due."""
    paid = sum((p.amount for p in payments if p.amount is not None), Decimal(0))
    if paid <= 0:
        return account
    past_due = max(Decimal(0), account.past_due - paid)
    update: dict[str, object] = {"balance": max(Decimal(0), account.balance - paid),
                                 "amount_past_due": past_due}
    if past_due == 0:
        update["delinquent_since"] = None
    return account.model_copy(update=update)


def write_contacts(steps: Iterable[SimEvent], out: IO[str]) -> int:
    """Write the new contact events of ``steps`` as contract history JSON Lines; return how many."""
    count = 0
    for step in steps:
        for event in step.new_events:
            out.write(json.dumps(event.to_json_dict(), ensure_ascii=False) + "\n")
            count += 1
    return count
