"""Each rule of the shipped baselines, shown as an account, its history and the decision."""

from __future__ import annotations

from typing import Any

from policy_engine.data.records import Account
from tests.decide.conftest import Decide, account, contact, event, planned, reasons

US_CALLS = """
[policy]
id = "bank-us"
timezone = "America/New_York"
locale = "en-US"
extends = ["baseline:{baseline}"]

[[stages]]
id = "early"
dpd = {{ from = 1, to = 89 }}
  [[stages.actions]]
  id = "call"
  channel = "voice"
  template = "t"
  [[stages.actions]]
  id = "text"
  channel = "sms"
  template = "t"
  [[stages.actions]]
  id = "mail"
  channel = "email"
  template = "t"
"""

NOON_NY = "2026-11-24T12:00:00-05:00"  # a Tuesday, no US holiday


def us_account(**fields: Any) -> Account:
    """A US account in New York (the tests below without a time zone show the Reg F ambiguity rule)."""
    return account(**{"timezone": "America/New_York", **fields})


# Reg F: the validation notice went out long before (else nothing goes out 5 days after a first contact)
VALIDATED = [contact("2026-11-01T10:00:00-05:00", "letter", "delivered", notice="validation_notice")]


def _calls(n: int, outcome: str = "no_answer") -> list:
    # n call attempts spread over the 6 days before 2026-11-24 (inside the 7-day window)
    return VALIDATED + [contact(f"2026-11-{18 + (i % 6):02d}T{10 + i // 6}:00:00-05:00", "voice", outcome)
                        for i in range(n)]


def test_reg_f_eighth_call_attempt_in_seven_days_is_suppressed(decide: Decide) -> None:
    d = decide(US_CALLS.format(baseline="us-reg-f"), us_account(), _calls(7), NOON_NY)
    assert reasons(d)["call"] == "frequency_cap"
    detail = next(s for s in d.suppressed if s.action == "call")
    assert "7 call contact attempts from 2026-11-18 to 2026-11-24" in detail.detail
    assert "limit 7 in 7 days" in detail.detail
    assert detail.source is not None and "policies/baselines/us-reg-f.toml" in detail.source
    assert "text" in planned(d) and "mail" in planned(d)  # other channels are not capped


def test_reg_f_seventh_call_attempt_is_allowed(decide: Decide) -> None:
    d = decide(US_CALLS.format(baseline="us-reg-f"), us_account(), _calls(6), NOON_NY)
    assert "call" in planned(d)


def test_reg_f_calls_older_than_the_window_do_not_count(decide: Decide) -> None:
    old = VALIDATED + [contact(f"2026-11-17T{9 + i:02d}:00:00-05:00", "voice") for i in range(8)]  # outside
    d = decide(US_CALLS.format(baseline="us-reg-f"), us_account(), old, NOON_NY)
    assert "call" in planned(d)


def test_reg_f_no_call_within_seven_days_after_a_conversation(decide: Decide) -> None:
    talk = VALIDATED + [contact("2026-11-18T10:00:00-05:00", "voice", "conversation")]  # day 1 = 11-18
    d = decide(US_CALLS.format(baseline="us-reg-f"), us_account(), talk, NOON_NY)
    assert reasons(d)["call"] == "frequency_cap"
    assert "allowed from 2026-11-25" in next(s.detail for s in d.suppressed if s.action == "call")
    d = decide(US_CALLS.format(baseline="us-reg-f"), us_account(), talk, "2026-11-25T12:00:00-05:00")
    assert "call" in planned(d)


def test_nyc_fourth_contact_of_the_week_is_suppressed_across_channels(decide: Decide) -> None:
    history = [contact("2026-11-19T10:00:00-05:00", "sms", "delivered"),
               contact("2026-11-20T10:00:00-05:00", "email", "delivered")]
    d = decide(US_CALLS.format(baseline="us-nyc"), us_account(region="US-NYC"), history, NOON_NY)
    # 2 contacts this week: only one more fits under the cap of 3, the highest priority / first one
    assert len(d.actions) == 1
    assert sorted(reasons(d).values()) == ["frequency_cap", "frequency_cap"]
    assert "limit 3 in 7 days" in d.suppressed[0].detail
    assert "plus 1 planned today" in d.suppressed[0].detail


def test_nyc_three_contacts_already_made_stop_everything(decide: Decide) -> None:
    history = [contact(f"2026-11-{19 + i}T10:00:00-05:00", "sms", "delivered") for i in range(3)]
    d = decide(US_CALLS.format(baseline="us-nyc"), us_account(region="US-NYC"), history, NOON_NY)
    assert d.actions == []
    assert set(reasons(d).values()) == {"frequency_cap"}
    # the New York City cap binds New York City accounts only
    elsewhere = decide(US_CALLS.format(baseline="us-nyc"), us_account(region="US"), history, NOON_NY)
    assert sorted(planned(elsewhere)) == ["call", "mail", "text"]


def test_massachusetts_two_phone_contacts_per_week(decide: Decide) -> None:
    history = [contact("2026-11-19T10:00:00-05:00", "voice"), contact("2026-11-20T10:00:00-05:00", "sms", "sent")]
    d = decide(US_CALLS.format(baseline="us-ma"), us_account(region="US-MA"), history, NOON_NY)
    assert reasons(d) == {"call": "frequency_cap", "text": "frequency_cap"}
    assert planned(d) == ["mail"]
    assert "policies/baselines/us-ma.toml" in (d.suppressed[0].source or "")


def test_us_quiet_hours_before_eight_moves_send_at_to_eight(decide: Decide) -> None:
    d = decide(US_CALLS.format(baseline="us-reg-f"), us_account(), [], "2026-11-24T07:30:00-05:00")
    assert {a.send_at.isoformat() for a in d.actions} == {"2026-11-24T08:00:00-05:00"}


def test_us_quiet_hours_after_nine_pm_suppress(decide: Decide) -> None:
    d = decide(US_CALLS.format(baseline="us-reg-f"), us_account(), [], "2026-11-24T21:00:00-05:00")
    assert set(reasons(d).values()) == {"quiet_hours"}


def test_quiet_hours_use_the_customers_time_zone(decide: Decide) -> None:
    # 10:30 in New York is 07:30 in Los Angeles: the Californian gets send_at 08:00 his time
    d = decide(US_CALLS.format(baseline="us-reg-f"), us_account(timezone="America/Los_Angeles"), [],
               "2026-11-24T10:30:00-05:00")
    assert {a.send_at.isoformat() for a in d.actions} == {"2026-11-24T08:00:00-08:00"}


def test_us_public_holiday_suppresses_contact(decide: Decide) -> None:
    d = decide(US_CALLS.format(baseline="us-reg-f"), us_account(), [], "2026-11-26T12:00:00-05:00")  # Thanksgiving
    assert set(reasons(d).values()) == {"holiday"}
    assert "Thanksgiving" in d.suppressed[0].detail


def test_us_unknown_sms_consent_means_no_sms_only(decide: Decide) -> None:
    d = decide(US_CALLS.format(baseline="us-reg-f"), us_account(consent={"voice": True, "email": True}), [], NOON_NY)
    assert reasons(d) == {"text": "no_consent"}
    assert planned(d) == ["call", "mail"]


def test_missing_contact_point_suppresses_that_channel_only(decide: Decide) -> None:
    d = decide(US_CALLS.format(baseline="us-reg-f"), us_account(contact={"phone": "+15550100"}), [], NOON_NY)
    assert reasons(d) == {"mail": "no_contact_point"}
    assert planned(d) == ["call", "text"]


def test_revoked_consent_event_overrides_the_record(decide: Decide) -> None:
    revoked = [event("consent", "2026-11-20T10:00:00-05:00", channel="email", granted=False)]
    d = decide(US_CALLS.format(baseline="us-reg-f"), us_account(), revoked, NOON_NY)
    assert reasons(d) == {"mail": "no_consent"}


def test_dispute_stops_all_contact_until_resolved(decide: Decide) -> None:
    opened = [event("dispute_opened", "2026-11-20T10:00:00-05:00")]
    d = decide(US_CALLS.format(baseline="us-reg-f"), us_account(), opened, NOON_NY)
    assert d.actions == [] and set(reasons(d).values()) == {"hold"}
    assert d.holds == ["dispute"]
    resolved = opened + [event("dispute_resolved", "2026-11-23T10:00:00-05:00")]
    d = decide(US_CALLS.format(baseline="us-reg-f"), us_account(), resolved, NOON_NY)
    assert planned(d) == ["call", "mail", "text"] and d.holds == []


def test_cease_request_leaves_only_letters(decide: Decide) -> None:
    # 12 CFR 1006.6(c): after a cease request only notices that efforts end or a remedy may be / is invoked
    policy = US_CALLS.format(baseline="us-reg-f") + """
  [[stages.actions]]
  id = "letter"
  channel = "letter"
  template = "t"
  notice = "remedy_notice"
  [[stages.actions]]
  id = "reminder_letter"
  channel = "letter"
  template = "t"

[[notices]]
id = "remedy_notice"
purpose = "remedy_may_be_invoked"
"""
    d = decide(policy, us_account(), [event("cease_request", "2026-11-20T10:00:00-05:00")], NOON_NY)
    assert planned(d) == ["letter"]
    assert set(reasons(d).values()) == {"hold"}
    assert reasons(d)["reminder_letter"] == "hold"


CN = """
[policy]
id = "bank-cn"
timezone = "Asia/Shanghai"
locale = "zh-CN"
extends = ["baseline:cn"]

[[notices]]
id = "pre_legal_warning"

[[stages]]
id = "early"
dpd = { from = 1, to = 89 }
  [[stages.actions]]
  id = "call"
  channel = "voice"
  template = "t"

[[stages]]
id = "legal"
dpd = { from = 90 }
  [[stages.actions]]
  id = "warning"
  channel = "letter"
  template = "t"
  notice = "pre_legal_warning"
  once = true
  [[stages.actions]]
  id = "referral"
  channel = "legal"
  requires = { notice = "pre_legal_warning", delivered_days_ago = { gte = 30 } }
  once = true
"""


def test_cn_six_dial_attempts_per_day(decide: Decide) -> None:
    dials = [contact(f"2026-11-24T{8 + i:02d}:00:00+08:00", "voice") for i in range(6)]
    d = decide(CN, account(), dials, "2026-11-24T15:00:00+08:00")
    assert reasons(d) == {"call": "frequency_cap"}
    d = decide(CN, account(), dials[:5], "2026-11-24T15:00:00+08:00")
    assert planned(d) == ["call"]


def test_cn_no_collection_after_ten_pm(decide: Decide) -> None:
    d = decide(CN, account(), [], "2026-11-24T22:00:00+08:00")
    assert reasons(d) == {"call": "quiet_hours"}


def test_cn_national_day_is_a_holiday(decide: Decide) -> None:
    d = decide(CN, account(delinquent_since="2026-09-01"), [], "2026-10-01T10:00:00+08:00")
    assert reasons(d) == {"call": "holiday"}


def test_no_legal_referral_until_the_pre_legal_notice_is_old_enough(decide: Decide) -> None:
    acct = account(delinquent_since="2026-07-01")
    d = decide(CN, acct, [], "2026-11-24T10:00:00+08:00")
    assert planned(d) == ["warning"] and reasons(d) == {"referral": "missing_notice"}
    served = [contact("2026-11-01T10:00:00+08:00", "letter", "delivered", notice="pre_legal_warning",
                      action="warning")]
    d = decide(CN, acct, served, "2026-11-24T10:00:00+08:00")
    assert reasons(d) == {"warning": "already_sent", "referral": "notice_waiting_period"}
    assert "23 days old; 30 required (allowed from 2026-12-01)" in d.suppressed[1].detail
    d = decide(CN, acct, served, "2026-12-01T10:00:00+08:00")
    assert planned(d) == ["referral"]


def test_a_failed_notice_does_not_count_as_served(decide: Decide) -> None:
    failed = [contact("2026-10-01T10:00:00+08:00", "letter", "failed", notice="pre_legal_warning")]
    d = decide(CN, account(delinquent_since="2026-07-01"), failed, "2026-11-24T10:00:00+08:00")
    assert reasons(d)["referral"] == "missing_notice"


def test_cn_hardship_plan_stops_collection(decide: Decide) -> None:
    d = decide(CN, account(flags={"hardship": True}), [], "2026-11-24T10:00:00+08:00")
    assert d.holds == ["hardship"] and reasons(d) == {"call": "hold"}


UK = """
[policy]
id = "bank-uk"
timezone = "Europe/London"
locale = "en-GB"
extends = ["baseline:uk-conc"]

[[stages]]
id = "arrears"
dpd = { from = 1 }
  [[stages.actions]]
  id = "call"
  channel = "voice"
  template = "t"
  [[stages.actions]]
  id = "default_letter"
  channel = "letter"
  template = "t"
  notice = "default_notice"
  once = true
"""


def test_uk_breathing_space_stops_all_contact(decide: Decide) -> None:
    d = decide(UK, account(flags={"breathing_space": True}), [], "2026-11-24T12:00:00+00:00")
    assert d.actions == [] and set(reasons(d).values()) == {"hold"}
    assert "Debt Respite Scheme" in d.suppressed[0].detail


def test_uk_time_barred_debt_gets_no_legal_action(decide: Decide) -> None:
    policy = UK + """
[[stages]]
id = "legal"
dpd = { from = 90 }
"""
    policy = policy.replace('dpd = { from = 1 }', 'dpd = { from = 1, to = 89 }') + """
  [[stages.actions]]
  id = "default_notice_letter"
  channel = "letter"
  template = "t"
  notice = "default_notice"
  once = true
  [[stages.actions]]
  id = "claim_letter"
  channel = "letter"
  template = "t"
  notice = "letter_of_claim"
  requires = { notice = "default_notice", delivered_days_ago = { gte = 14 } }
  once = true
  [[stages.actions]]
  id = "referral"
  channel = "legal"
  requires = [{ notice = "default_notice", delivered_days_ago = { gte = 14 } },
              { notice = "letter_of_claim", delivered_days_ago = { gte = 30 } }]
"""
    served = [contact("2020-01-10T10:00:00+00:00", "letter", "delivered", notice="default_notice",
                      action="default_notice_letter"),
              contact("2020-02-10T10:00:00+00:00", "letter", "delivered", notice="letter_of_claim",
                      action="claim_letter")]
    d = decide(policy, account(delinquent_since="2019-06-01"), served, "2026-11-24T12:00:00+00:00")
    assert reasons(d)["referral"] == "time_barred"


def test_the_trace_of_a_legal_referral_names_the_notice_that_allowed_it(decide: Decide) -> None:
    served = [contact("2026-11-01T10:00:00+08:00", "letter", "delivered", notice="pre_legal_warning",
                      action="warning")]
    d = decide(CN, account(delinquent_since="2026-07-01"), served, "2026-12-01T10:00:00+08:00", explain=True)
    (entry,) = [t for t in d.trace or [] if t["step"] == "planned" and t["action"] == "referral"]
    assert entry["prerequisites"] == [
        "notice 'pre_legal_warning' served on 2026-11-01, 30 days ago (at least 30 required)"]


def test_reg_f_unknown_time_zone_allows_only_times_valid_in_every_candidate_zone(decide: Decide) -> None:
    # no time zone on file: every state and territory must be inside 08:00-21:00, Guam (UTC+10) next
    # morning included: 08:00 in Guam is 17:00 in New York; 21:00 in Puerto Rico is 20:00 in New York
    d = decide(US_CALLS.format(baseline="us-reg-f"), account(timezone=None), [], NOON_NY)
    assert {a.send_at.isoformat() for a in d.actions} == {"2026-11-24T17:00:00-05:00"}
    assert {a.not_after.isoformat() for a in d.actions if a.not_after} == {"2026-11-24T20:00:00-05:00"}
    # and nothing after the window has closed in the easternmost zone
    late = decide(US_CALLS.format(baseline="us-reg-f"), account(timezone=None), [], "2026-11-24T21:00:00-05:00")
    assert set(reasons(late).values()) == {"quiet_hours"}
    assert "time zone unknown" in late.suppressed[0].detail and "Pacific/Honolulu" in late.suppressed[0].detail
    assert "policies/baselines/us-reg-f.toml" in (late.suppressed[0].source or "")
    # with the customer's zone known, the ordinary window applies
    known = decide(US_CALLS.format(baseline="us-reg-f"), us_account(), [], NOON_NY)
    assert {a.send_at.isoformat() for a in known.actions} == {NOON_NY}


IE_IN = """
[policy]
id = "bank-{code}"
timezone = "{tz}"
locale = "en-GB"

[guardrails]
{guardrails}

[[stages]]
id = "arrears"
dpd = {{ from = 1 }}
  [[stages.actions]]
  id = "call"
  channel = "voice"
  template = "t"
"""


def test_ireland_no_calls_on_sundays_or_public_holidays_nor_before_nine(decide: Decide) -> None:
    policy = IE_IN.format(code="ie", tz="Europe/Dublin", guardrails='channel_hours = { voice = { start = "09:00", '
                          'end = "21:00" } }\ndays_off = ["sun"]\nholidays = "IE"')
    acct = account(delinquent_since="2026-10-01")
    assert reasons(decide(policy, acct, [], "2026-11-29T12:00:00+00:00")) == {"call": "holiday"}  # a Sunday
    assert reasons(decide(policy, acct, [], "2026-12-25T12:00:00+00:00")) == {"call": "holiday"}  # Christmas
    d = decide(policy, acct, [], "2026-11-30T08:30:00+00:00")
    assert [a.send_at.isoformat() for a in d.actions] == ["2026-11-30T09:00:00+00:00"]


def test_india_no_calls_after_seven_pm(decide: Decide) -> None:
    policy = IE_IN.format(code="in", tz="Asia/Kolkata",
                          guardrails='channel_hours = { voice = { start = "08:00", end = "19:00" } }')
    acct = account(delinquent_since="2026-10-01")
    assert reasons(decide(policy, acct, [], "2026-11-24T19:00:00+05:30")) == {"call": "quiet_hours"}
    assert planned(decide(policy, acct, [], "2026-11-24T18:59:00+05:30")) == ["call"]
