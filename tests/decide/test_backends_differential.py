"""Differential test: the `durable` backend decides exactly like the `compiled` one.

Hypothesis generates batches of accounts with histories (values on and around every threshold of the
policy below, missing values, free-form attributes of every JSON type, Decimals finer than a double) and
each account is evaluated by both backends: the matched rule sets of both phases and the full decision
JSON must be identical. The policy uses every fact, every operator, all/any/not (nested, over missing
values). The test counts the accounts it compared and requires at least 10,000; it is derandomised, so CI
sees the same accounts on every run.
"""

from __future__ import annotations

import itertools
import json
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from policy_engine.data.records import Account, HistoryEvent
from policy_engine.decide.engine import NO_SEGMENT, Engine
from policy_engine.decide.facts import FactContext
from policy_engine.decide.rules import rules_of
from policy_engine.policy import load_policy
from policy_engine.policy.loader import LoadedPolicy

BATCH = 50  # accounts per hypothesis example (kept under Hypothesis' per-example choice budget)
EXAMPLES = 205  # 205 x 50 = 10,250 accounts
MIN_ACCOUNTS = 10_000

POLICY = r'''
[policy]
id = "differential"
version = "1"
timezone = "America/New_York"
currency = "USD"

[guardrails]
contact_hours = { start = "08:00", end = "21:00" }
max_contacts_per_day = 3
caps = [ { channels = ["voice"], max = 3, days = 7 }, { channels = ["sms", "email"], max = 4, days = 7 } ]
after_conversation = [ { channels = ["voice"], days = 7 } ]
unknown_consent = { sms = "deny", email = "allow" }
pause_while_promise_active = true

[guardrails.legal]
min_dpd = 90
require_notice = true
notice_channels = ["letter"]
min_notice_days = 30

[escalation.broken_promise]
grace_days = 1
action = { channel = "agent" }

[[notices]]
id = "arrears_notice"

[[notices]]
id = "final_notice"

# -- holds ---------------------------------------------------------------------------------------------
[[holds]]
id = "dispute"
when = { flags.dispute = true }

[[holds]]
id = "vulnerable"
when.any = [ { flags.hardship = true }, { attributes.vulnerable = true }, { attributes.vulnerable = "yes" } ]
channels = ["voice"]

[[holds]]
id = "cease"
when = { flags.cease_contact = true }
except_channels = ["letter"]

[[holds]]
id = "estate"
when.any = [ { flags.deceased = true }, { flags.bankruptcy = true }, { flags.attorney = true },
             { flags.breathing_space = true } ]

[[holds]]
id = "no_email_consent"
when = { consent.email = false }
channels = ["email"]

[[holds]]
id = "no_phone"
when = { not = { contact.phone = { exists = true } } }
channels = ["sms", "voice"]

# -- segments (first match wins; `segment` cannot be used here) ------------------------------------------
[[segments]]
id = "vip"
when = { attributes.tier = { in = ["gold", "platinum"] }, credit_score = { gte = 750 } }

[[segments]]
id = "low_risk"
when = { credit_score = { gte = 700 }, prior_delinquencies = 0 }

[[segments]]
id = "high_risk"
when.any = [ { credit_score = { lt = 600 } }, { prior_delinquencies = { gte = 2 } },
             { not = { credit_score = { exists = true } } } ]

[[segments]]
id = "big_balance"
when = { balance = { gt = 5000.5 }, not = { amount_past_due = { lte = 100 } } }

[[segments]]
id = "foreign"
when = { not = { region = { in = ["US", "US-NY", "US-MA"] } } }

[[segments]]
id = "small_minimum"
when = { minimum_due = { lte = 25 }, currency = { ne = "USD" } }

[[segments]]
id = "product_language"
when.any = [ { product = "gold" }, { language = { not_in = ["en-US", "es-US"] } } ]

[[segments]]
id = "exotic"
when = { attributes.score = { gt = 0.5 }, not = { attributes.grade = { lt = "B" } } }

[[segments]]
id = "quiet"
when.days_since_last_payment = { gte = 30 }
when.not = { days_since_last_conversation = { channels = ["voice"], lt = 14 } }

[[segments]]
id = "standard"

# -- stages ---------------------------------------------------------------------------------------------
[[stages]]
id = "promise_watch"
dpd = { from = 1, to = 29 }
when = { active_promise = true }

  [[stages.actions]]
  id = "promise_sms"
  channel = "sms"
  when = { not = { active_promise = false } }

[[stages]]
id = "early"
dpd = { from = 1, to = 29 }
when.any = [ { segment = { in = ["low_risk", "vip"] } }, { dpd = { lt = 15 } } ]

  [[stages.actions]]
  id = "sms_reminder"
  channel = "sms"
  when = { contacts = { channels = ["sms"], days = 7, lt = 3 } }
  every_days = 2

  [[stages.actions]]
  id = "email_reminder"
  channel = "email"
  when.all = [ { consent.email = true }, { contact.email = { exists = true } } ]

[[stages]]
id = "early_other"
dpd = { from = 1, to = 29 }

  [[stages.actions]]
  id = "early_call"
  channel = "voice"
  when = { not = { any = [ { conversations = { days = 14, gte = 1 } }, { broken_promises = { gte = 2 } } ] } }
  at_most = { times = 2, days = 7 }

  [[stages.actions]]
  id = "early_agent"
  channel = "agent"
  segments = ["high_risk", "foreign"]
  when = { segment = { ne = "vip" } }

[[stages]]
id = "mid"
dpd = { from = 30, to = 89 }
when = { not = { segment = "high_risk" } }

  [[stages.actions]]
  id = "arrears_letter"
  channel = "letter"
  notice = "arrears_notice"
  once = true
  when = { notices_sent = { notice = "arrears_notice", eq = 0 } }

  [[stages.actions]]
  id = "mid_call"
  channel = "voice"
  when = { days_since_notice = { notice = "arrears_notice", gte = 10 } }
  offer = "installment_12"

  [[stages.actions]]
  id = "mid_webhook"
  channel = "webhook"
  when = { attributes.months_on_book = { in = [1, 2, 3.5, true] } }

[[stages]]
id = "mid_high"
dpd = { from = 30, to = 89 }

  [[stages.actions]]
  id = "mid_high_call"
  channel = "voice"
  when.any = [ { consent.voice = { exists = false } }, { consent.voice = true } ]

  [[stages.actions]]
  id = "mid_high_letter"
  channel = "letter"
  notice = "arrears_notice"
  once = true

[[stages]]
id = "late"
dpd = { from = 90 }
when = { balance = { gte = 1000 } }

  [[stages.actions]]
  id = "final_letter"
  channel = "letter"
  notice = "final_notice"
  when = { notices_sent = { lt = 1 } }
  once = true

  [[stages.actions]]
  id = "legal_referral"
  channel = "legal"
  requires = { notice = "final_notice", delivered_days_ago = { gte = 30 } }
  when.all = [ { balance = { gte = 1000.00 } }, { not = { broken_promises = { days = 30, eq = 0 } } } ]
  once = true

[[stages]]
id = "late_small"
dpd = { from = 90 }

  [[stages.actions]]
  id = "late_sms"
  channel = "sms"
  when = { not = { not = { dpd = { gte = 120 } } } }

# -- offers ---------------------------------------------------------------------------------------------
[[offers]]
id = "installment_12"
kind = "installment"
months = 12
when = { dpd = { gte = 30 }, balance = { gte = 2000 } }

[[offers]]
id = "settlement_40"
kind = "settlement"
settlement_pct = 40
when.any = [ { not = { attributes.tier = { exists = true } } }, { attributes.tier = "silver" } ]

[[offers]]
id = "fee_waiver"
kind = "fee_waiver"
when = { segment = { not_in = ["vip", "low_risk"] } }

[[offers]]
id = "rate_cut"
kind = "rate_reduction"
rate_reduction_pct = 5
when.not.all = [ { attributes.score = { lte = 1 } }, { attributes.grade = { ne = "A" } } ]

[[offers]]
id = "token"
kind = "token_payment"
min_payment = 5
when.any = [ { attributes.tags = { eq = ["a", "b"] } }, { attributes.grade = { gte = "b" } },
             { attributes.score = { gte = true } }, { contact.address = { exists = false } } ]

[[offers]]
id = "token_meta"
kind = "token_payment"
min_payment = 1
when.all = [ { attributes.meta = { ne = { k = 1 } } }, { not = { attributes.score = { in = ["1", 2, 0.5] } } } ]

[[offers]]
id = "refinance"
kind = "refinance"
months = 24
when.all = [ { credit_score = { in = [600, 700, 750] } }, { prior_delinquencies = { not_in = [0, 1] } },
             { currency = { in = ["USD", "CNY"] } }, { consent.sms = { ne = false } },
             { contact.email = "x@example.com" }, { product = { ne = "classic" } } ]

[[offers]]
id = "fee_waiver_contacts"
kind = "fee_waiver"
when.any = [ { contacts = { days = 30, gt = 4 } }, { broken_promises = { days = 60, gt = 0 } },
             { all = [ { days_since_last_conversation = { gte = 3 } },
                       { not = { conversations = { channels = ["voice", "agent"], days = 30, gt = 0 } } } ] } ]

[[offers]]
id = "fee_waiver_amounts"
kind = "fee_waiver"
when.all = [ { any = [ { amount_past_due = { ne = 310.00 } }, { minimum_due = { eq = 35.5 } } ] },
             { any = [ { region = { ne = "US" } },
                       { not = { all = [ { language = "en-US" }, { not = { dpd = { gt = 45 } } } ] } } ] },
             { not = { consent.voice = false } } ]
'''

AS_OF = [
    datetime.fromisoformat("2026-11-28T15:00:00+00:00"),
    datetime.fromisoformat("2026-03-08T06:30:00+00:00"),  # the night the US clocks go forward
    datetime.fromisoformat("2026-12-25T23:59:00-05:00"),
]

# Values on, just below and just above the thresholds of the policy (and a few far away).
MONEY = [Decimal(v) for v in (
    "0", "25", "24.99", "25.00", "25.01", "35.5", "35.50", "35.49", "100", "99.99", "100.00", "100.01",
    "310", "310.00", "310.01", "1000", "999.99", "1000.00", "1000.01", "1000.0000000000000001",
    "999.9999999999999999", "2000", "1999.99", "5000.5", "5000.50", "5000.49", "5000.51",
    "5000.5000000000000001", "5000.4999999999999999", "12345.67", "1E+2",
)]
ATTRIBUTE_VALUES: list[Any] = [
    None, True, False, 0, 1, 2, 3, 3.5, 0.5, 0.5000000000000001, 0.49999999999999994, 1.0, 1.5, -1, "1", "2",
    "0.5", "yes", "Yes", "", "A", "B", "b", "Bb", "a", "AZ", "é", "B\x00", "gold", "platinum", "silver", "Gold",
    ["a", "b"], ["a"], [], {"k": 1}, {"k": 2}, {}, 10**20,
]
DELINQUENT_DAYS = [None, 0, 1, 14, 15, 16, 29, 30, 31, 45, 46, 89, 90, 91, 119, 120, 121, 400]


FLAGS = ("dispute", "cease_contact", "bankruptcy", "deceased", "attorney", "breathing_space", "hardship")
ATTRIBUTES = ("tier", "score", "grade", "vulnerable", "months_on_book", "tags", "meta")
ABSENT = object()  # an attribute that is not in the record at all (None: present with the value null)


def _records(**pools: list[Any]) -> list[dict[str, Any]]:
    """Every combination of the pools, as dicts: one draw picks a whole group of fields."""
    names = list(pools)
    return [dict(zip(names, combo, strict=True)) for combo in itertools.product(*pools.values())]


# Strategies are built once, and related fields are drawn together: Hypothesis' cost is per draw, and
# with 10,000 accounts the generation would otherwise take longer than both backends together.
money = st.one_of(st.sampled_from(MONEY), st.integers(min_value=0, max_value=2_000_000).map(lambda c: Decimal(c) / 100))
optional_money = st.one_of(st.none(), money)
attribute_value = st.sampled_from([ABSENT, *ATTRIBUTE_VALUES])
delinquent_days = st.sampled_from(DELINQUENT_DAYS)
places = st.sampled_from(_records(
    region=[None, "US", "US-NY", "US-MA", "CN", "UK", "us"],
    timezone=[None, "America/New_York", "America/Los_Angeles", "Asia/Shanghai"],
    currency=[None, "USD", "CNY", "GBP"]))
profiles = st.sampled_from(_records(
    credit_score=[None, 300, 599, 600, 601, 699, 700, 701, 749, 750, 751, 850],
    prior_delinquencies=[None, 0, 1, 2, 3],
    product=[None, "classic", "gold", "platinum", "Gold"],
    language=[None, "en-US", "es-US", "zh-CN", "en-us"]))
contacts = st.sampled_from(_records(phone=[None, "+12125550100", ""],
                                    email=[None, "x@example.com", "y@example.com", "X@example.com"],
                                    address=[None, "1 Main St"]))
consents = st.sampled_from(_records(sms=[None, True, False], email=[None, True, False], voice=[None, True, False]))
flag_sets = st.sampled_from([{}] * 8 + [{f: True} for f in FLAGS]
                            + [{"dispute": True, "hardship": True}, {"cease_contact": True, "attorney": True}])
event_counts = st.integers(min_value=0, max_value=6)
moments = st.sampled_from(_records(days=[-2, 0, 0, 1, 2, 3, 6, 7, 8, 9, 10, 11, 13, 14, 15, 29, 30, 31, 40, 60, 61, 90],
                                   hours=[0, 3, 11, 20]))
event_bodies = st.sampled_from(
    _records(type=["contact"], channel=["sms", "voice", "email", "letter", "agent"],
             outcome=["sent", "delivered", "failed", "no_answer", "voicemail", "conversation"],
             notice=[None, None, "arrears_notice", "final_notice"],
             action=[None, "sms_reminder", "early_call", "broken_promise_followup"])
    + _records(type=["payment"], amount=["10", "50", "310", "1000"]) * 8
    + _records(type=["promise"], due_in=[0, 3, 7, 20], amount=[None, "50", "500"]) * 8
    + _records(type=["consent"], channel=["sms", "email", "voice"], granted=[True, False]) * 8
    + _records(type=["dispute_opened", "dispute_resolved", "cease_request", "hardship_started",
                     "hardship_ended"]) * 12)


@st.composite
def account_with_history(draw: st.DrawFn, n: int, as_of: datetime) -> tuple[Account, list[HistoryEvent]]:
    """One account and its history around ``as_of`` (a few events after it, which must be ignored)."""
    account_id = f"A{n}"
    days = draw(delinquent_days)
    attributes = {name: value for name in ATTRIBUTES if (value := draw(attribute_value)) is not ABSENT}
    record: dict[str, Any] = {
        "account_id": account_id,
        **draw(places),
        **draw(profiles),
        "balance": draw(money),
        "amount_past_due": draw(optional_money),
        "minimum_due": draw(optional_money),
        "delinquent_since": None if days is None else (as_of.date() - timedelta(days=days)).isoformat(),
        "contact": draw(contacts),
        "consent": draw(consents),
        "flags": draw(flag_sets),
        "attributes": attributes,
    }
    events: list[HistoryEvent] = []
    for _ in range(draw(event_counts)):
        moment = draw(moments)
        at = as_of - timedelta(days=moment["days"], hours=moment["hours"])
        event: dict[str, Any] = {"account_id": account_id, "at": at.isoformat(), **draw(event_bodies)}
        due_in = event.pop("due_in", None)
        if due_in is not None:
            event["due"] = (at.date() + timedelta(days=due_in)).isoformat()
        events.append(HistoryEvent.model_validate({k: v for k, v in event.items() if v is not None}))
    return Account.model_validate(record), events


@st.composite
def batches(draw: st.DrawFn) -> tuple[datetime, list[tuple[Account, list[HistoryEvent]]]]:
    """BATCH accounts with histories, all evaluated at one of the AS_OF instants."""
    as_of = draw(st.sampled_from(AS_OF))
    return as_of, [draw(account_with_history(n, as_of)) for n in range(BATCH)]


class Recorder:
    """Wraps an engine's rule set and keeps what ``match`` returned for the last account, per phase."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.backend = inner.backend
        self.last: dict[str, frozenset[str]] = {}

    def match(self, ctx: FactContext, phase: str) -> frozenset[str]:
        result: frozenset[str] = self.inner.match(ctx, phase)
        self.last[phase] = result
        return result


@pytest.fixture(scope="module")
def loaded(tmp_path_factory: pytest.TempPathFactory) -> LoadedPolicy:
    path: Path = tmp_path_factory.mktemp("policy") / "differential.toml"
    path.write_text(POLICY, encoding="utf-8")
    return load_policy(path)


def test_durable_and_compiled_agree(loaded: LoadedPolicy) -> None:
    compiled = Engine(loaded, backend="compiled")
    durable = Engine(loaded, backend="durable")
    assert durable.rules.backend == "durable"
    # The engines call match() for both phases inside decide(); the recorders keep what it returned, so
    # each account's match sets and decision come from one evaluation per backend.
    compiled_rules, durable_rules = Recorder(compiled.rules), Recorder(durable.rules)
    compiled.rules, durable.rules = compiled_rules, durable_rules
    compared = 0
    names = {rule.name for rule in rules_of(loaded.policy)}
    held: set[str] = set()
    failed: set[str] = set()
    stages: set[str | None] = set()

    @settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                     HealthCheck.large_base_example])
    @given(batch=batches())
    def check(batch: tuple[datetime, list[tuple[Account, list[HistoryEvent]]]]) -> None:
        nonlocal compared
        as_of, accounts = batch
        for account, events in accounts:
            compiled_rules.last.clear()
            durable_rules.last.clear()
            want = compiled.decide(account, events, as_of).to_dict(explain=False)
            got = durable.decide(account, events, as_of).to_dict(explain=False)
            assert set(durable_rules.last) == set(compiled_rules.last) == {"segments", "rules"}
            for phase in ("segments", "rules"):
                assert durable_rules.last[phase] == compiled_rules.last[phase], (phase, account, events)
            assert json.dumps(got, sort_keys=True) == json.dumps(want, sort_keys=True), (account, events)
            matched = compiled_rules.last["segments"] | compiled_rules.last["rules"]
            held.update(matched)
            failed.update(names - matched)
            stages.add(want["stage"])
            compared += 1

    check()
    assert compared >= MIN_ACCOUNTS
    # the data reaches the whole policy: every rule both holds and fails for some accounts, every stage
    assert held == names, sorted(names - held)
    assert failed == names, sorted(names - failed)
    assert stages == {s.id for s in loaded.policy.stages} | {None}, stages


def test_match_directly_with_a_given_segment(loaded: LoadedPolicy) -> None:
    """match() called directly (not through the engine), with every segment value the rules can see."""
    compiled = Engine(loaded, backend="compiled")
    durable = Engine(loaded, backend="durable")
    segments = [s.id for s in loaded.policy.segments] + [NO_SEGMENT]

    @settings(max_examples=10, deadline=None, derandomize=True, database=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                     HealthCheck.large_base_example])
    @given(batch=batches())
    def check(batch: tuple[datetime, list[tuple[Account, list[HistoryEvent]]]]) -> None:
        as_of, accounts = batch
        for i, (account, events) in enumerate(accounts):
            zone = compiled.zone_of(account)
            ctx_c = FactContext(account, tuple(events), as_of, zone, compiled.grace)
            ctx_d = FactContext(account, tuple(events), as_of, zone, durable.grace)
            assert durable.rules.match(ctx_d, "segments") == compiled.rules.match(ctx_c, "segments")
            ctx_c.segment = ctx_d.segment = segments[i % len(segments)]
            assert durable.rules.match(ctx_d, "rules") == compiled.rules.match(ctx_c, "rules")
            assert durable.rules.match(ctx_d, "no such phase") == frozenset()

    check()
