"""`policy-engine simulate` and :func:`policy_engine.lifecycle.simulate.simulate`: cadence over a span, history events
arriving when their time comes (payment, dispute), contact outcomes, and output fed back as history."""

from __future__ import annotations

import json
from datetime import date, datetime, time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from policy_engine.data.history import HistoryIndex
from policy_engine.data.records import Account, HistoryEvent
from policy_engine.decide.engine import Engine
from policy_engine.lifecycle.simulate import SimEvent, simulate, start_of
from policy_engine.policy.loader import load_policy

if TYPE_CHECKING:
    from tests.lifecycle.conftest import Workspace

# March 2026 has no public holiday in the CN calendar, so cadence alone decides the days.
START = "2026-03-01"
POLICY = """
[policy]
id = "sim-bank"
version = "1"
timezone = "Asia/Shanghai"
locale = "zh-CN"
extends = ["baseline:cn"]

[[stages]]
id = "early"
dpd = { from = 1, to = 59 }
  [[stages.actions]]
  id = "sms"
  channel = "sms"
  template = "t"
  every_days = 3
  [[stages.actions]]
  id = "call"
  channel = "voice"
  template = "t"
  every_days = 2
  [[stages.actions]]
  id = "letter"
  channel = "letter"
  template = "t"
  once = true
"""


def acct(account_id: str, **fields: Any) -> dict[str, Any]:
    data: dict[str, Any] = {"account_id": account_id, "balance": 3000, "amount_past_due": 600,
                            "delinquent_since": "2026-02-24",
                            "contact": {"phone": "+8613800000000", "address": "Shanghai"}}
    data.update(fields)
    return data


def run(policy: Path, accounts: list[dict[str, Any]], events: list[dict[str, Any]] | None = None,
        days: int = 30, at: time = time(9, 0)) -> list[SimEvent]:
    engine = Engine(load_policy(policy))
    index = HistoryIndex.from_events(HistoryEvent.model_validate(e) for e in events or [])
    records = [Account.model_validate(a) for a in accounts]
    return list(simulate(engine, records, index, date(2026, 3, 1), days, at))


def contact_days(steps: list[SimEvent], action: str) -> list[int]:
    return [s.day for s in steps for c in s.contacts if c.planned.action == action]


def test_cadence_is_honoured_over_30_days(lc: Workspace) -> None:
    steps = run(lc.policy("bank.toml", POLICY), [acct("A1")])
    assert len(steps) == 30 and [s.day for s in steps] == list(range(30))
    assert contact_days(steps, "sms") == list(range(0, 30, 3))
    assert contact_days(steps, "call") == list(range(0, 30, 2))
    assert contact_days(steps, "letter") == [0]
    reasons = {(s.day, x.action): x.reason for s in steps for x in s.decision.suppressed}
    assert reasons[(1, "sms")] == reasons[(2, "sms")] == "cadence"
    assert reasons[(1, "letter")] == "already_sent"
    outcomes = {c.planned.channel: c.event.outcome for s in steps for c in s.contacts}
    assert outcomes == {"sms": "delivered", "voice": "no_answer", "letter": "delivered"}
    first = steps[0].contacts[0].event
    assert first.at == datetime.fromisoformat("2026-03-01T09:00:00+08:00") and first.type == "contact"


def test_payment_that_cures_the_account_stops_contact(lc: Workspace) -> None:
    payment = {"account_id": "A1", "type": "payment", "amount": 600, "at": "2026-03-10T08:00:00+08:00"}
    partial = {"account_id": "A2", "type": "payment", "amount": 100, "at": "2026-03-10T08:00:00+08:00"}
    steps = run(lc.policy("bank.toml", POLICY), [acct("A1"), acct("A2")], [payment, partial])
    cured = [s for s in steps if s.account.account_id == "A1"]
    assert cured[8].decision.dpd == 13 and cured[8].contacts  # day 9: still delinquent, contacted
    assert cured[9].arrived and cured[9].arrived[0].type == "payment"
    assert all(s.decision.dpd == 0 and s.decision.stage is None and not s.contacts for s in cured[9:])
    assert max(s.day for s in cured if s.contacts) == 8
    assert cured[9].account.amount_past_due == 0 and cured[9].account.balance == 2400
    partly = [s for s in steps if s.account.account_id == "A2"]
    assert partly[9].account.amount_past_due == 500 and contact_days(partly, "sms") == list(range(0, 30, 3))


def test_dispute_on_day_5_stops_contact_from_its_time(lc: Workspace) -> None:
    # Opened at 10:00 on 2026-03-05, after that day's 09:00 evaluation: day 5 (index 4) still contacts.
    dispute = {"account_id": "A1", "type": "dispute_opened", "at": "2026-03-05T10:00:00+08:00"}
    steps = run(lc.policy("bank.toml", POLICY), [acct("A1")], [dispute])
    assert contact_days(steps, "call") == [0, 2, 4]
    assert not any(s.contacts for s in steps[5:])
    assert steps[5].arrived[0].type == "dispute_opened"
    assert {x.reason for s in steps[5:] for x in s.decision.suppressed if x.action != "letter"} == {"hold"}
    assert all(s.decision.holds == ["dispute"] for s in steps[5:])


def test_history_says_how_a_call_went(lc: Workspace) -> None:
    # A recorded call later that day (after the 09:00 evaluation) stands for the planned call.
    talk = {"account_id": "A1", "type": "contact", "channel": "voice", "outcome": "conversation",
            "at": "2026-03-03T11:00:00+08:00"}
    steps = run(lc.policy("bank.toml", POLICY), [acct("A1")], [talk], days=5)
    call = next(c for c in steps[2].contacts if c.planned.action == "call")
    assert call.recorded and call.event.outcome == "conversation"
    assert all(e.action != "call" for e in steps[2].new_events)
    assert contact_days(steps, "call") == [0, 2, 4]  # the recorded call is counted once by the cadence


def test_account_time_zone_and_dst(lc: Workspace) -> None:
    # New York leaves standard time on 2026-03-08: 09:00 local is -05:00 before and -04:00 after.
    steps = run(lc.policy("bank.toml", POLICY), [acct("NY", timezone="America/New_York")], days=10)
    at = [c.event.at.isoformat() for s in steps for c in s.contacts if c.planned.action == "call"]
    assert at[:2] == ["2026-03-01T09:00:00-05:00", "2026-03-03T09:00:00-05:00"]
    assert at[-1] == "2026-03-09T09:00:00-04:00"


def test_days_must_be_positive(lc: Workspace) -> None:
    engine = Engine(load_policy(lc.policy("bank.toml", POLICY)))
    with pytest.raises(ValueError, match="at least 1"):
        list(simulate(engine, [], None, date(2026, 3, 1), 0))
    local = start_of(datetime.fromisoformat("2026-03-01T02:30:00+01:00"), engine.zone)
    assert local == (date(2026, 3, 1), time(9, 30))


def test_cli_output_fed_back_as_history_is_already_sent(lc: Workspace) -> None:
    policy = lc.policy("bank.toml", POLICY)
    accounts = lc.jsonl("accounts.jsonl", [acct("A1"), acct("A2")])
    out = lc.root / "contacts.jsonl"
    lc.cli("simulate", "--policy", policy, "--accounts", accounts, "--start", START, "--days", "30",
           "--output", out)
    lines = out.read_text(encoding="utf-8").splitlines()
    events = [HistoryEvent.model_validate_json(line) for line in lines]
    assert len(events) == 2 * (10 + 15 + 1)
    assert json.loads(lines[0]) == {"account_id": "A1", "at": "2026-03-01T09:00:00+08:00", "type": "contact",
                                    "channel": "voice", "outcome": "no_answer", "action": "call"}
    assert [e.to_json_dict() for e in events] == [json.loads(line) for line in lines]

    again = lc.root / "again.jsonl"
    lc.cli("simulate", "--policy", policy, "--accounts", accounts, "--history", out, "--start", START,
           "--days", "30", "--output", again)
    assert again.read_text(encoding="utf-8") == ""  # every contact is already in the history

    day4 = json.loads(lc.cli("dry-run", "--policy", policy, "--accounts", accounts, "--history", out,
                             "--as-of", "2026-03-04T09:00:00+08:00", "--format", "json"))
    assert {(s["action"], s["reason"]) for s in day4[0]["suppressed"]} == {
        ("sms", "already_sent"), ("letter", "already_sent"), ("call", "cadence")}
    assert day4[0]["actions"] == []


def test_cli_is_deterministic_and_has_a_timeline(lc: Workspace) -> None:
    policy = lc.policy("bank.toml", POLICY)
    accounts = lc.jsonl("accounts.jsonl", [acct("A1"), acct("A2")])
    history = lc.jsonl("history.jsonl", [
        {"account_id": "A2", "type": "dispute_opened", "at": "2026-03-05T08:00:00+08:00"}])
    args = ("simulate", "--policy", policy, "--accounts", accounts, "--history", history, "--start", START,
            "--days", "12", "--at", "10:30")
    first, second = lc.cli(*args), lc.cli(*args)
    assert first == second and "T10:30:00+08:00" in first
    timeline = lc.cli(*args, "--format", "timeline")
    assert "account A1" in timeline and "account A2" in timeline
    assert "dispute_opened" in timeline and "hold" in timeline
    assert "sms via sms 10:30" in timeline
    lc.cli(*args, "--format", "csv", code=2)
    lc.cli("simulate", "--policy", policy, "--accounts", accounts, "--start", "March", "--days", "3", code=2)
    lc.cli("simulate", "--policy", policy, "--accounts", accounts, "--start", START, "--days", "3",
           "--at", "25:00", code=2)
    lc.cli("simulate", "--policy", policy, "--accounts", lc.root / "none.jsonl", "--start", START,
           "--days", "3", code=5)
