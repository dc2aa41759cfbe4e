"""Differential test of every guardrail family: `columnar` against `compiled` on dense recent histories.

The durable differential test's histories are spread over months; here they crowd into the last days, so
caps, the daily cap, pauses after conversations, cadence and the actions chosen earlier in the same
decision all bite. The policy uses every guardrail setting (windows per channel, kind and customer, days
off, holidays per region, candidate zones, caps by channel, kind, region and conversations, posted notices
deemed served, the validation window, legal prerequisites and limitation periods, holds by kind and
purpose, breathing spaces, promises and their escalation, champion/challenger variants).
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import strategies as st

from policy_engine.data.history import HistoryIndex
from policy_engine.data.records import Account, HistoryEvent
from policy_engine.decide.engine import Engine
from policy_engine.policy import load_policy
from policy_engine.policy.loader import LoadedPolicy
from tests.decide.drawn import draw_portfolios

BATCH = 40
EXAMPLES = 100  # 4,000 accounts

POLICY = r'''
[policy]
id = "guardrails-differential"
version = "1"
timezone = "America/New_York"
currency = "USD"

[guardrails]
contact_hours = { start = "08:00", end = "21:00" }
kind_hours = { call = { start = "09:00", end = "20:00" } }
channel_hours = { email = { start = "07:00", end = "00:00" } }
days_off = ["sun"]
holidays = "US"
holidays_by_region = { "US-MA" = "US-MA" }
extra_holidays = ["2026-11-27"]
max_contacts_per_day = 2
candidate_timezones = ["America/New_York", "America/Los_Angeles"]
unknown_consent = { sms = "deny", email = "allow", voice = "allow" }
pause_while_promise_active = true
avoid_workplace = ["phone"]
posted_notice_served_after_business_days = 2
validation_notice_within_days = 5
caps = [
  { id = "calls_week", kinds = ["call"], max = 3, days = 7 },
  { id = "sms_day", channels = ["sms"], max = 1, days = 1 },
  { id = "all_week", channels = [], max = 5, days = 7 },
  { id = "ma_calls", kinds = ["call"], regions = ["US-MA"], max = 2, days = 7 },
  { id = "talks", kinds = ["call"], count = "conversations", max = 1, days = 3 },
]
after_conversation = [ { kinds = ["call"], days = 2 }, { channels = ["email"], days = 1 } ]

[guardrails.legal]
min_dpd = 60
require_notice = true
notice_channels = ["letter"]
min_notice_days = 7
time_barred_after_days = 400
time_barred_after_days_by_region = { "US-MA" = 200 }
required_notices = [ { notice = "default_notice", delivered_days_ago = { gte = 5 } } ]

[escalation.broken_promise]
grace_days = 2
action = { id = "promise_followup", channel = "agent", priority = 3 }

[[variants]]
id = "a"
weight = 30

[[variants]]
id = "b"
weight = 70

[[notices]]
id = "validation_notice"
purpose = "validation"

[[notices]]
id = "default_notice"
purpose = "default"

[[notices]]
id = "warning"
purpose = "pre_legal"
threatens_legal_action = true

[[notices]]
id = "ending"
purpose = "collection_ending"

[[holds]]
id = "dispute"
when = { flags.dispute = true }

[[holds]]
id = "cease"
when = { flags.cease_contact = true }
except_channels = ["legal"]
allow_purposes = ["collection_ending"]

[[holds]]
id = "breathing"
when = { flags.breathing_space = true }

[[holds]]
id = "calls_off"
when = { attributes.no_calls = true }
kinds = ["call"]

[[stages]]
id = "late"
dpd = { from = 60 }
when = { not = { attributes.no_calls = 1 } }

  [[stages.actions]]
  id = "legal_a"
  channel = "legal"
  requires = { notice = "warning", delivered_days_ago = { gte = 7 } }
  priority = 2

  [[stages.actions]]
  id = "warning_late"
  channel = "letter"
  notice = "warning"
  priority = 16

  [[stages.actions]]
  id = "voice_late"
  channel = "voice"
  at_most = { times = 2, days = 7 }
  priority = 11

  [[stages.actions]]
  id = "sms_late"
  channel = "sms"
  priority = 14

[[stages]]
id = "all"
dpd = { from = 1 }

  [[stages.actions]]
  id = "validation_letter"
  channel = "letter"
  notice = "validation_notice"
  once = true
  priority = 1

  [[stages.actions]]
  id = "sms_a"
  channel = "sms"
  every_days = 2
  priority = 10

  [[stages.actions]]
  id = "voice_a"
  channel = "voice"
  at_most = { times = 2, days = 7 }
  priority = 11

  [[stages.actions]]
  id = "agent_a"
  channel = "agent"
  variants = ["b"]
  priority = 12

  [[stages.actions]]
  id = "email_a"
  channel = "email"
  every_days = 3
  priority = 13

  [[stages.actions]]
  id = "sms_b"
  channel = "sms"
  priority = 14

  [[stages.actions]]
  id = "default_letter"
  channel = "letter"
  notice = "default_notice"
  once = true
  priority = 15

  [[stages.actions]]
  id = "warning_letter"
  channel = "letter"
  notice = "warning"
  when = { dpd = { gte = 30 } }
  priority = 16

  [[stages.actions]]
  id = "ending_letter"
  channel = "letter"
  notice = "ending"
  priority = 18

  [[stages.actions]]
  id = "webhook_a"
  channel = "webhook"
  priority = 19
'''

AS_OF = [
    datetime.fromisoformat("2026-11-24T14:00:00+00:00"),  # a Tuesday, 09:00 in New York
    datetime.fromisoformat("2026-11-24T11:30:00+00:00"),  # before the windows open in the Americas
    datetime.fromisoformat("2026-11-25T01:30:00+00:00"),  # evening in the Americas, next morning in Asia
    datetime.fromisoformat("2026-11-26T16:00:00+00:00"),  # Thanksgiving
    datetime.fromisoformat("2026-11-27T16:00:00+00:00"),  # the policy's extra holiday
    datetime.fromisoformat("2026-11-29T16:00:00+00:00"),  # a Sunday
    datetime.fromisoformat("2026-11-01T06:30:00+00:00"),  # the night the US clocks go back
    datetime.fromisoformat("2026-04-20T14:00:00+00:00"),  # Patriots' Day (a US-MA holiday)
]

accounts_fields = st.fixed_dictionaries({
    "region": st.sampled_from([None, "US", "US-MA", "CN"]),
    "timezone": st.sampled_from([None, "America/New_York", "America/Los_Angeles", "Asia/Shanghai"]),
    "timezones": st.sampled_from([[], [], ["America/New_York", "America/Chicago"], ["Asia/Tokyo"]]),
    "preferred_hours": st.sampled_from([None, None, {"start": "10:00", "end": "12:00"},
                                        {"start": "20:30", "end": "23:00"}, {"start": "06:00", "end": "00:00"}]),
    "contact": st.fixed_dictionaries({
        "phone": st.sampled_from([None, "+12125550100"]), "email": st.sampled_from([None, "x@example.com"]),
        "address": st.sampled_from([None, "1 Main St"]), "phone_at_work": st.sampled_from([False, False, True])}),
    "consent": st.fixed_dictionaries({"sms": st.sampled_from([None, True, False]),
                                      "email": st.sampled_from([None, True, False])}),
    "flags": st.sampled_from([{}] * 6 + [{"dispute": True}, {"cease_contact": True}, {"breathing_space": True}]),
    "attributes": st.sampled_from([{}, {}, {"no_calls": True}, {"no_calls": 1}]),
    "delinquent_days": st.sampled_from([None, 1, 5, 29, 30, 59, 60, 61, 100, 250, 500]),
})
event_body = st.sampled_from(
    [{"type": "contact", "channel": channel, "outcome": outcome, "action": action, "notice": notice}
     for channel, action, notice in [
         ("sms", "sms_a", None), ("sms", "sms_b", None), ("voice", "voice_a", None), ("agent", "agent_a", None),
         ("email", "email_a", None), ("letter", "validation_letter", "validation_notice"),
         ("letter", "default_letter", "default_notice"), ("letter", "warning_letter", "warning"),
         ("email", None, "warning"), ("legal", "legal_a", None), ("agent", "promise_followup", None),
         ("webhook", "webhook_a", None), ("voice", "voice_late", None), ("letter", "warning_late", "warning")]
     for outcome in ("sent", "delivered", "conversation", "no_answer")]
    + [{"type": "contact", "channel": "agent", "outcome": "sent", "counts_as_attempt": False}]
    + [{"type": "payment", "amount": "20"}, {"type": "payment"}] * 3
    + [{"type": "promise", "amount": "50", "due_in": due} for due in (0, 1, 3)] * 2
    + [{"type": "promise", "due_in": 2}]
    + [{"type": "consent", "channel": "sms", "granted": granted} for granted in (True, False)]
    + [{"type": kind} for kind in ("dispute_opened", "dispute_resolved", "cease_request", "breathing_space_ended")]
    + [{"type": "breathing_space_started", "breathing_space": kind} for kind in ("standard", "mental_health_crisis")])
moment = st.tuples(st.sampled_from([0, 0, 0, 1, 1, 2, 3, 4, 5, 6, 7, 8, 10, 12, 30, 70]),
                   st.sampled_from([0, 1, 4, 9, 15]))


@st.composite
def batch(draw: st.DrawFn) -> tuple[datetime, list[tuple[Account, list[HistoryEvent]]]]:
    as_of = draw(st.sampled_from(AS_OF))
    found = []
    for number in range(BATCH):
        fields: dict[str, Any] = draw(accounts_fields)
        days = fields.pop("delinquent_days")
        account_id = f"G{number}"
        record = {"account_id": account_id, "balance": 1000, **fields,
                  "delinquent_since": None if days is None else (as_of.date() - timedelta(days=days)).isoformat()}
        events = []
        for _ in range(draw(st.integers(min_value=0, max_value=12))):
            days_ago, hours_ago = draw(moment)
            at = as_of - timedelta(days=days_ago, hours=hours_ago)
            body = dict(draw(event_body))
            due_in = body.pop("due_in", None)
            if due_in is not None:
                body["due"] = (at.date() + timedelta(days=due_in)).isoformat()
            events.append(HistoryEvent.model_validate({"account_id": account_id, "at": at.isoformat(),
                                                       **{k: v for k, v in body.items() if v is not None}}))
        found.append((Account.model_validate(record), events))
    return as_of, found


@pytest.fixture(scope="module")
def loaded(tmp_path_factory: pytest.TempPathFactory) -> LoadedPolicy:
    path: Path = tmp_path_factory.mktemp("policy") / "guardrails.toml"
    path.write_text(POLICY, encoding="utf-8")
    return load_policy(path)


def test_every_guardrail_decides_alike(loaded: LoadedPolicy) -> None:
    drawn = draw_portfolios(batch, EXAMPLES)
    compiled = Engine(loaded, backend="compiled")
    columnar = Engine(loaded, backend="columnar")
    reasons: set[str] = set()
    details: list[str] = []
    planned_together = 0
    compared = 0
    for as_of, accounts in drawn.items():
        history = HistoryIndex.from_events(event for _, events in accounts for event in events)
        decided = columnar.decisions((account for account, _ in accounts), history, as_of)
        lines = columnar.json_lines((account for account, _ in accounts), history, as_of)
        assert lines is not None  # the plan writes the JSON Lines itself
        for (account, events), got, line in zip(accounts, decided, lines, strict=True):
            want = compiled.decide(account, events, as_of).to_dict()
            assert json.dumps(got.to_dict(), sort_keys=True) == json.dumps(want, sort_keys=True), (account, events)
            assert line == json.dumps(want, ensure_ascii=False, separators=(", ", ": ")), (account, events)
            reasons.update(suppression["reason"] for suppression in want["suppressed"])
            details.extend(suppression["detail"] for suppression in want["suppressed"])
            planned_together += len(want["actions"]) >= 2
            compared += 1
    assert compared == EXAMPLES * BATCH
    assert planned_together > 100
    # caps and the daily cap counted actions chosen earlier in the same decision
    assert any("planned today (limit" in detail for detail in details)
    assert any("already today plus 1 planned" in detail for detail in details)
    assert any("already today plus 0 planned" in detail for detail in details)
    assert reasons == {"hold", "promise_active", "time_barred", "no_contact_point", "no_consent",
                       "missing_notice", "notice_waiting_period", "already_sent", "cadence", "frequency_cap",
                       "quiet_hours", "holiday", "daily_cap"}, reasons
