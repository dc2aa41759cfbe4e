"""Segments, stages, cadence, promises, offers, daily cap, explanations and determinism."""

from __future__ import annotations

import json

from tests.decide.conftest import Decide, account, contact, event, planned, reasons

POLICY = """
[policy]
id = "bank"
version = "7"
timezone = "Asia/Shanghai"
locale = "zh-CN"
extends = ["baseline:cn"]

[guardrails]
max_contacts_per_day = 2

[[segments]]
id = "low_risk"
when = { credit_score = { gte = 700 }, prior_delinquencies = 0 }
[[segments]]
id = "high_risk"
when.any = [ { credit_score = { lt = 600 } }, { prior_delinquencies = { gte = 2 } } ]
[[segments]]
id = "standard"

[[stages]]
id = "early"
dpd = { from = 1, to = 29 }
  [[stages.actions]]
  id = "sms"
  channel = "sms"
  template = "t"
  every_days = 3
  priority = 30
  [[stages.actions]]
  id = "agent_call"
  channel = "agent"
  template = "t"
  segments = ["high_risk"]
  at_most = { times = 2, days = 14 }
  priority = 10
  [[stages.actions]]
  id = "email"
  channel = "email"
  template = "t"
  priority = 40
  [[stages.actions]]
  id = "voice"
  channel = "voice"
  template = "t"
  priority = 20
  offer = "installment_24"

[[stages]]
id = "late"
dpd = { from = 30 }
  [[stages.actions]]
  id = "late_call"
  channel = "voice"
  template = "t"
  offer = "installment_24"

[[offers]]
id = "installment_24"
kind = "installment"
months = 24
when = { dpd = { gte = 30 }, balance = { gte = 2000 } }

[escalation.broken_promise]
grace_days = 1
action = { channel = "agent", template = "t", priority = 1 }
"""

AS_OF = "2026-11-24T10:00:00+08:00"
EARLY = "2026-11-10"  # DPD 14


def test_segments_first_match_wins(decide: Decide) -> None:
    assert decide(POLICY, account(credit_score=720, prior_delinquencies=0), [], AS_OF).segment == "low_risk"
    assert decide(POLICY, account(credit_score=720, prior_delinquencies=3), [], AS_OF).segment == "high_risk"
    assert decide(POLICY, account(credit_score=650), [], AS_OF).segment == "standard"
    assert decide(POLICY, account(), [], AS_OF).segment == "standard"  # no score: no comparison holds


def test_stage_by_dpd(decide: Decide) -> None:
    assert decide(POLICY, account(delinquent_since=EARLY), [], AS_OF).stage == "early"
    assert decide(POLICY, account(delinquent_since="2026-10-01"), [], AS_OF).stage == "late"
    current = decide(POLICY, account(delinquent_since=None), [], AS_OF)
    assert (current.dpd, current.stage, current.actions) == (0, None, [])


def test_segment_restricted_action_only_for_that_segment(decide: Decide) -> None:
    d = decide(POLICY, account(delinquent_since=EARLY, credit_score=500), [], AS_OF)
    assert "agent_call" in planned(d)
    d = decide(POLICY, account(delinquent_since=EARLY, credit_score=650), [], AS_OF)
    assert "agent_call" not in planned(d) and "agent_call" not in reasons(d)


def test_daily_cap_keeps_the_highest_priority_contacts(decide: Decide) -> None:
    d = decide(POLICY, account(delinquent_since=EARLY), [], AS_OF)
    # voice (20) and sms (30) fit in the daily cap of 2; email (40) does not
    assert planned(d) == ["sms", "voice"]
    assert reasons(d) == {"email": "daily_cap"}


def test_agent_tasks_are_calls_and_count_against_the_daily_cap(decide: Decide) -> None:
    # a person's call is a call: the agent task (priority 10) and the voice call (20) take the day's 2
    d = decide(POLICY, account(delinquent_since=EARLY, credit_score=500), [], AS_OF)
    assert planned(d) == ["agent_call", "voice"]
    assert reasons(d) == {"sms": "daily_cap", "email": "daily_cap"}


def test_every_days_cadence(decide: Decide) -> None:
    recent = [contact("2026-11-22T10:00:00+08:00", "sms", "delivered", action="sms")]
    d = decide(POLICY, account(delinquent_since=EARLY), recent, AS_OF)
    assert reasons(d)["sms"] == "cadence"
    assert "2 days ago" in next(s.detail for s in d.suppressed if s.action == "sms")
    older = [contact("2026-11-21T10:00:00+08:00", "sms", "delivered", action="sms")]
    assert "sms" in planned(decide(POLICY, account(delinquent_since=EARLY), older, AS_OF))


def test_at_most_cadence(decide: Decide) -> None:
    two = [contact(f"2026-11-{d}T10:00:00+08:00", "agent", "conversation", action="agent_call") for d in (12, 20)]
    d = decide(POLICY, account(delinquent_since=EARLY, credit_score=500), two, AS_OF)
    assert reasons(d)["agent_call"] == "cadence"


def test_rerun_the_same_day_is_already_sent(decide: Decide) -> None:
    today = [contact("2026-11-24T09:00:00+08:00", "voice", "no_answer", action="voice")]
    d = decide(POLICY, account(delinquent_since=EARLY), today, AS_OF)
    assert reasons(d)["voice"] == "already_sent"


def test_offer_attached_only_when_eligible(decide: Decide) -> None:
    late = decide(POLICY, account(delinquent_since="2026-10-01", balance=3000), [], AS_OF)
    assert late.actions[0].offer == {"id": "installment_24", "kind": "installment", "months": 24}
    assert late.offers == ["installment_24"]
    small = decide(POLICY, account(delinquent_since="2026-10-01", balance=500), [], AS_OF)
    assert small.actions[0].offer is None and small.offers == []


def test_active_promise_pauses_contact_until_its_date(decide: Decide) -> None:
    promise = [event("promise", "2026-11-20T10:00:00+08:00", amount=1000, due="2026-11-26")]
    d = decide(POLICY, account(delinquent_since=EARLY), promise, AS_OF)
    assert d.actions == [] and set(reasons(d).values()) == {"promise_active"}
    assert "promise_active" in d.holds


def test_kept_promise_ends_the_pause_without_escalation(decide: Decide) -> None:
    history = [event("promise", "2026-11-10T10:00:00+08:00", amount=1000, due="2026-11-15"),
               event("payment", "2026-11-14T10:00:00+08:00", amount=1000)]
    d = decide(POLICY, account(delinquent_since=EARLY), history, AS_OF)
    assert "broken_promise_followup" not in planned(d) and d.actions


def test_broken_promise_escalates_once(decide: Decide) -> None:
    history = [event("promise", "2026-11-10T10:00:00+08:00", amount=1000, due="2026-11-15")]
    d = decide(POLICY, account(delinquent_since=EARLY), history, AS_OF)
    assert "broken_promise_followup" in planned(d)
    escalated = history + [contact("2026-11-17T10:00:00+08:00", "agent", "conversation",
                                   action="broken_promise_followup")]
    d = decide(POLICY, account(delinquent_since=EARLY), escalated, AS_OF)
    assert "broken_promise_followup" not in planned(d)


def test_promise_in_grace_period_is_not_yet_broken(decide: Decide) -> None:
    history = [event("promise", "2026-11-20T10:00:00+08:00", amount=1000, due="2026-11-23")]  # grace 1 day
    d = decide(POLICY, account(delinquent_since=EARLY), history, AS_OF)
    assert "broken_promise_followup" not in planned(d)
    assert set(reasons(d).values()) == {"promise_active"}


def test_idempotency_key_is_stable_per_day_and_differs_across_days(decide: Decide) -> None:
    a = decide(POLICY, account(delinquent_since=EARLY), [], AS_OF)
    b = decide(POLICY, account(delinquent_since=EARLY), [], "2026-11-24T11:00:00+08:00")
    c = decide(POLICY, account(delinquent_since=EARLY), [], "2026-11-25T10:00:00+08:00")
    assert [x.idempotency_key for x in a.actions] == [x.idempotency_key for x in b.actions]
    assert not {x.idempotency_key for x in a.actions} & {x.idempotency_key for x in c.actions}


def test_decision_is_stamped_with_policy_and_digest(decide: Decide) -> None:
    d = decide(POLICY, account(delinquent_since=EARLY), [], AS_OF)
    assert d.policy["id"] == "bank" and d.policy["version"] == "7"
    assert str(d.policy["digest"]).startswith("sha256:") and len(str(d.policy["digest"])) == 71


def test_explain_trace_shows_each_condition_with_its_value(decide: Decide) -> None:
    d = decide(POLICY, account(delinquent_since=EARLY, credit_score=650, prior_delinquencies=1), [], AS_OF,
               explain=True)
    trace = d.to_dict(explain=True)["trace"]
    first = trace[0]
    assert first["step"] == "segment" and first["id"] == "low_risk" and first["held"] is False
    assert {"condition": "credit_score >= 700", "value": 650, "held": False} in first["condition"]["all"]
    daily = [t for t in trace if t["step"] == "guardrail"]
    assert daily[0]["action"] == "email" and daily[0]["reason"] == "daily_cap"
    assert "policies/baselines" not in (daily[0]["source"] or "")  # the bank's own cap, not the baseline's
    assert "policy.toml" in daily[0]["source"]


def test_same_inputs_give_byte_identical_output(decide: Decide) -> None:
    history = [event("promise", "2026-11-10T10:00:00+08:00", amount=1000, due="2026-11-15"),
               contact("2026-11-20T10:00:00+08:00", "voice", "no_answer", action="voice")]
    runs = [json.dumps(decide(POLICY, account(delinquent_since=EARLY), history, AS_OF, explain=True)
                       .to_dict(explain=True), sort_keys=False) for _ in range(3)]
    assert runs[0] == runs[1] == runs[2]


def test_nan_attribute_satisfies_no_comparison(decide: Decide) -> None:
    policy = POLICY.replace('id = "standard"', 'id = "standard"\nwhen = { attributes.ratio = { lt = 5 } }')
    d = decide(policy, account(delinquent_since=EARLY, attributes={"ratio": float("nan")}), [], AS_OF)
    assert d.segment == "none"


def test_accounts_outside_the_policy_scope_get_an_empty_decision(decide: Decide) -> None:
    scoped = POLICY.replace('extends = ["baseline:cn"]', 'extends = ["baseline:cn"]\napplies_to = { region = "CN" }')
    inside = decide(scoped, account(delinquent_since=EARLY, region="CN"), [], AS_OF)
    outside = decide(scoped, account(delinquent_since=EARLY, region="US"), [], AS_OF, explain=True)
    assert inside.actions and inside.to_dict().get("in_scope", True) is True
    data = outside.to_dict(explain=True)
    assert (data["in_scope"], data["stage"], data["actions"], data["suppressed"]) == (False, None, [], [])
    assert data["trace"][0] == {"step": "scope", "id": "bank", "held": False,
                                "condition": {"condition": "region == 'CN'", "value": "US", "held": False}}
