"""The regulator's rules, each shown as an account, its history and the decision, citing the rule.

A person's call is a call (agent tasks obey every rule about calls), cease requests, time-barred debt and
threats of legal action, limitation periods by region, UK service of notices, China's "more than three
months", the Reg F validation notice window, and what the account model says about time zones, the
workplace, breathing space and stated contact preferences.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from policy_engine.data.records import Account
from policy_engine.policy.loader import load_policy
from tests.decide.conftest import Decide, account, contact, event, planned, reasons

NOON_NY = "2026-11-24T12:00:00-05:00"  # a Tuesday, no US holiday
VALIDATED = [contact("2026-11-01T10:00:00-05:00", "letter", "delivered", notice="validation_notice")]

AGENT_US = """
[policy]
id = "bank-us"
timezone = "America/New_York"
locale = "en-US"
jurisdiction = "US"
extends = ["baseline:{baseline}"]

[[stages]]
id = "early"
dpd = {{ from = 1, to = 89 }}
  [[stages.actions]]
  id = "agent_call"
  channel = "agent"
  template = "t"
"""


def us(**fields: Any) -> Account:
    """A New York account with a phone and voice consent."""
    return account(**{"timezone": "America/New_York", **fields})


def _calls(count: int, channel: str = "voice") -> list:
    """``count`` call attempts spread over the 6 days before 2026-11-24."""
    return [contact(f"2026-11-{18 + (i % 6):02d}T{10 + i // 6}:00:00-05:00", channel) for i in range(count)]


# -- a person's call is a call ----------------------------------------------------------------------------

def test_agent_task_waits_for_contact_hours_and_carries_its_window(decide: Decide) -> None:
    # Reg F 1006.6(b)(1)(i): no call before 08:00 or after 21:00 local time; an agent's call is a call
    early = decide(AGENT_US.format(baseline="us-reg-f"), us(), VALIDATED, "2026-11-24T07:30:00-05:00")
    (task,) = early.actions
    assert task.send_at.isoformat() == "2026-11-24T08:00:00-05:00"
    shown = task.to_dict()
    assert (shown["not_before"], shown["not_after"]) == ("2026-11-24T08:00:00-05:00", "2026-11-24T21:00:00-05:00")
    late = decide(AGENT_US.format(baseline="us-reg-f"), us(), VALIDATED, "2026-11-24T22:30:00-05:00")
    assert reasons(late) == {"agent_call": "quiet_hours"}


def test_agent_task_as_the_eighth_call_in_seven_days_is_suppressed(decide: Decide) -> None:
    # Reg F 1006.14(b)(2)(i): more than 7 call attempts in 7 days is presumed harassment
    d = decide(AGENT_US.format(baseline="us-reg-f"), us(), VALIDATED + _calls(7), NOON_NY)
    assert reasons(d) == {"agent_call": "frequency_cap"}
    assert "7 call contact attempts" in d.suppressed[0].detail


def test_calls_agents_made_count_as_calls(decide: Decide) -> None:
    # completed agent tasks are recorded as contacts on the agent channel: they count against call caps
    d = decide(AGENT_US.format(baseline="us-reg-f"), us(), VALIDATED + _calls(7, "agent"), NOON_NY)
    assert reasons(d) == {"agent_call": "frequency_cap"}
    opened = [event("contact", f"2026-11-{18 + i}T10:00:00-05:00", channel="agent", outcome="sent",
                    action="other_task", counts_as_attempt=False) for i in range(6)] + _calls(1)
    # an opened task (counts_as_attempt = false) is not yet a call: 1 attempt of 7 leaves room
    assert planned(decide(AGENT_US.format(baseline="us-reg-f"), us(), VALIDATED + opened, NOON_NY)) == ["agent_call"]


def test_agent_task_the_day_after_a_conversation_waits_seven_days(decide: Decide) -> None:
    # Reg F 1006.14(b)(2)(ii): no call within 7 days after a telephone conversation (day of it = day 1)
    talk = VALIDATED + [contact("2026-11-23T10:00:00-05:00", "agent", "conversation")]
    d = decide(AGENT_US.format(baseline="us-reg-f"), us(), talk, NOON_NY)
    assert reasons(d) == {"agent_call": "frequency_cap"}
    assert "allowed from 2026-11-30" in d.suppressed[0].detail


def test_massachusetts_counts_agent_calls_and_texts_for_its_accounts_only(decide: Decide) -> None:
    # 940 CMR 7.04(1)(f): at most 2 creditor-initiated phone contacts (calls "in person" included) in 7 days
    history = VALIDATED + [contact("2026-11-20T10:00:00-05:00", "agent", "no_answer"),
                           contact("2026-11-21T10:00:00-05:00", "sms", "sent")]
    d = decide(AGENT_US.format(baseline="us-ma"), us(region="US-MA"), history, NOON_NY)
    assert reasons(d) == {"agent_call": "frequency_cap"}
    assert "policies/baselines/us-ma.toml" in (d.suppressed[0].source or "")
    assert planned(decide(AGENT_US.format(baseline="us-ma"), us(region="US"), history, NOON_NY)) == ["agent_call"]


def test_new_york_city_caps_every_medium_agent_calls_included(decide: Decide) -> None:
    # NYC DCWP: at most 3 contacts or attempts per 7 days, all media
    history = VALIDATED + [contact("2026-11-19T10:00:00-05:00", "email", "delivered"),
                           contact("2026-11-20T10:00:00-05:00", "letter", "sent"),
                           contact("2026-11-21T10:00:00-05:00", "sms", "sent")]
    d = decide(AGENT_US.format(baseline="us-nyc"), us(region="US-NYC"), history, NOON_NY)
    assert reasons(d) == {"agent_call": "frequency_cap"}
    assert "limit 3 in 7 days" in d.suppressed[0].detail


CN_AGENT = """
[policy]
id = "bank-cn"
timezone = "Asia/Shanghai"
locale = "zh-CN"
extends = ["baseline:cn"]

[[stages]]
id = "early"
dpd = { from = 1, to = 89 }
  [[stages.actions]]
  id = "agent_call"
  channel = "agent"
  template = "t"
"""


def test_china_six_dials_a_day_agents_included(decide: Decide) -> None:
    # CN: at most 6 unanswered dial attempts per number per day; a person dialling is a dial
    dials = [contact(f"2026-11-24T{9 + i:02d}:00:00+08:00", "voice" if i % 2 else "agent") for i in range(6)]
    d = decide(CN_AGENT, account(timezone="Asia/Shanghai"), dials, "2026-11-24T16:00:00+08:00")
    assert reasons(d) == {"agent_call": "frequency_cap"}
    assert "6 call contact attempts" in d.suppressed[0].detail


def test_agent_needs_a_phone_and_voice_consent(decide: Decide) -> None:
    no_phone = decide(CN_AGENT, account(contact={"email": "a@example.com"}), [], "2026-11-24T10:00:00+08:00")
    assert reasons(no_phone) == {"agent_call": "no_contact_point"}
    refused = decide(CN_AGENT, account(consent={"voice": False}), [], "2026-11-24T10:00:00+08:00")
    assert reasons(refused) == {"agent_call": "no_consent"}


# -- cease requests: only three kinds of written notice ---------------------------------------------------

CEASE = """
[policy]
id = "bank-us"
timezone = "America/New_York"
locale = "en-US"
extends = ["baseline:us-reg-f"]

[[notices]]
id = "closing_notice"
purpose = "collection_ending"

[[notices]]
id = "statement"
purpose = "information"

[[stages]]
id = "early"
dpd = { from = 1, to = 89 }
  [[stages.actions]]
  id = "closing_letter"
  channel = "letter"
  template = "t"
  notice = "closing_notice"
  [[stages.actions]]
  id = "closing_email"
  channel = "email"
  template = "t"
  notice = "closing_notice"
  [[stages.actions]]
  id = "statement_letter"
  channel = "letter"
  template = "t"
  notice = "statement"
  [[stages.actions]]
  id = "reminder_sms"
  channel = "sms"
  template = "t"
"""


def test_after_a_cease_request_only_permitted_notices_go_out(decide: Decide) -> None:
    # 12 CFR 1006.6(c): efforts ending, a remedy may be invoked, a remedy is invoked; nothing else
    d = decide(CEASE, us(), VALIDATED + [event("cease_request", "2026-11-20T10:00:00-05:00")], NOON_NY)
    assert planned(d) == ["closing_email", "closing_letter"]
    assert reasons(d) == {"statement_letter": "hold", "reminder_sms": "hold"}


def test_validate_rejects_a_letter_for_ceased_accounts_without_a_permitted_purpose(tmp_path: Path) -> None:
    policy = CEASE + """
[[stages]]
id = "ceased"
dpd = { from = 90 }
when = { flags.cease_contact = true }
  [[stages.actions]]
  id = "statement_after_cease"
  channel = "letter"
  template = "t"
  notice = "statement"

[templates.t."en-US"]
body = "Hello"
"""
    path = tmp_path / "policy.toml"
    path.write_text(policy, encoding="utf-8")
    from policy_engine._exceptions import PolicyValidationError

    try:
        load_policy(path)
    except PolicyValidationError as error:
        messages = [issue.message for issue in error.issues if issue.code == "purpose_not_permitted"]
    else:
        messages = []
    assert messages == ["action 'statement_after_cease' is written for accounts under hold 'cease_contact' but sends "
                        "notice 'statement' (purpose: information); under that hold only notices with purpose "
                        "collection_ending, remedy_may_be_invoked, remedy_invoked go out"]


# -- time-barred debt: no legal action and no threat of it ------------------------------------------------

BARRED = """
[policy]
id = "bank-us"
timezone = "America/New_York"
locale = "en-US"
extends = ["baseline:{baseline}"]

[[notices]]
id = "warning"
purpose = "pre_legal"
threatens_legal_action = true

[[notices]]
id = "plain"
purpose = "information"

[[stages]]
id = "late"
dpd = {{ from = 90 }}
  [[stages.actions]]
  id = "warning_letter"
  channel = "letter"
  template = "t"
  notice = "warning"
  [[stages.actions]]
  id = "plain_letter"
  channel = "letter"
  template = "t"
  notice = "plain"
  [[stages.actions]]
  id = "referral"
  channel = "legal"
  requires = {{ notice = "warning", delivered_days_ago = {{ gte = 30 }} }}
"""


def test_no_threat_of_legal_action_on_time_barred_debt(decide: Decide) -> None:
    # Reg F 1006.26(b): no suit or threat of suit on time-barred debt (limitation here: 1825 days)
    d = decide(BARRED.format(baseline="us-reg-f"), us(delinquent_since="2020-06-01"), VALIDATED, NOON_NY)
    assert reasons(d)["warning_letter"] == "time_barred"
    assert "may not threaten it" in next(s.detail for s in d.suppressed if s.action == "warning_letter")
    assert planned(d) == ["plain_letter"]


def test_new_york_three_year_limitation_is_the_strictest_that_applies(decide: Decide) -> None:
    # N.Y. CPLR 214-i: 3 years for consumer credit; elsewhere the general 1825 days
    debt = {"delinquent_since": "2023-06-01"}  # 1272 days: past 1095, within 1825
    nyc = decide(BARRED.format(baseline="us-nyc"), us(region="US-NYC", **debt), VALIDATED, NOON_NY)
    assert reasons(nyc)["warning_letter"] == "time_barred"
    assert "barred after 1095 in US-NYC" in next(s.detail for s in nyc.suppressed if s.action == "warning_letter")
    elsewhere = decide(BARRED.format(baseline="us-nyc"), us(region="US", **debt), VALIDATED, NOON_NY)
    assert "warning_letter" in planned(elsewhere)


# -- UK: service of a notice ------------------------------------------------------------------------------

UK = """
[policy]
id = "bank-uk"
timezone = "Europe/London"
locale = "en-GB"
extends = ["baseline:uk-conc"]

[[stages]]
id = "default"
dpd = { from = 1, to = 89 }
  [[stages.actions]]
  id = "default_letter"
  channel = "letter"
  template = "t"
  notice = "default_notice"
  once = true

[[stages]]
id = "enforce"
dpd = { from = 90 }
  [[stages.actions]]
  id = "claim_letter"
  channel = "letter"
  template = "t"
  notice = "letter_of_claim"
  requires = { notice = "default_notice", delivered_days_ago = { gte = 14 } }
  once = true
"""


def test_a_posted_default_notice_is_served_on_the_second_business_day(decide: Decide) -> None:
    # CCA s.176, Interpretation Act 1978 s.7: posted Friday 2026-11-06 -> served Tuesday 2026-11-10
    posted = [contact("2026-11-06T10:00:00+00:00", "letter", "sent", notice="default_notice", action="default_letter")]
    uk_account = account(delinquent_since="2026-08-01", timezone="Europe/London")
    waiting = decide(UK, uk_account, posted, "2026-11-23T10:00:00+00:00")  # 13 days after service
    detail = next(s.detail for s in waiting.suppressed if s.action == "claim_letter")
    assert reasons(waiting)["claim_letter"] == "notice_waiting_period"
    assert "served on 2026-11-10" in detail and "allowed from 2026-11-24" in detail
    assert "claim_letter" in planned(decide(UK, uk_account, posted, "2026-11-24T10:00:00+00:00"))
    # a notice recorded as delivered counts from delivery
    delivered = [contact("2026-11-06T10:00:00+00:00", "letter", "delivered", notice="default_notice",
                         action="default_letter")]
    assert "claim_letter" in planned(decide(UK, uk_account, delivered, "2026-11-20T10:00:00+00:00"))


# -- China: more than three months ------------------------------------------------------------------------

def test_china_legal_action_only_after_more_than_three_months(tmp_path: Path) -> None:
    path = tmp_path / "policy.toml"
    path.write_text("""
[policy]
id = "bank-cn"
timezone = "Asia/Shanghai"
extends = ["baseline:cn"]

[[notices]]
id = "pre_legal_warning"

[[stages]]
id = "early"
dpd = { from = 1, to = 91 }

[[stages]]
id = "legal"
dpd = { from = 92 }
  [[stages.actions]]
  id = "warning"
  channel = "letter"
  notice = "pre_legal_warning"
  [[stages.actions]]
  id = "referral"
  channel = "legal"
  requires = { notice = "pre_legal_warning", delivered_days_ago = { gte = 0 } }
""", encoding="utf-8")
    from policy_engine._exceptions import PolicyValidationError

    try:
        load_policy(path)
    except PolicyValidationError as error:
        codes = {issue.code for issue in error.issues}
    else:
        codes = set()
    assert "legal_too_early" in codes  # DPD 92 may still be within three calendar months (e.g. 30 Jun - 30 Sep)


# -- Reg F validation notice ------------------------------------------------------------------------------

VALIDATION = """
[policy]
id = "bank-us"
timezone = "America/New_York"
locale = "en-US"
extends = ["baseline:us-reg-f"]

[[stages]]
id = "early"
dpd = { from = 1, to = 89 }
  [[stages.actions]]
  id = "validation_letter"
  channel = "letter"
  template = "t"
  notice = "validation_notice"
  [[stages.actions]]
  id = "reminder_email"
  channel = "email"
  template = "t"
"""


def test_nothing_but_the_validation_notice_once_five_days_passed_without_it(decide: Decide) -> None:
    # 12 CFR 1006.34(a)(1): in the initial communication or within 5 days after it
    first_call = [contact("2026-11-18T10:00:00-05:00", "voice", "conversation")]
    d = decide(VALIDATION, us(), first_call, NOON_NY)  # 6 days later
    assert planned(d) == ["validation_letter"]
    assert reasons(d) == {"reminder_email": "missing_notice"}
    assert "within 5 days of the first communication on 2026-11-18" in d.suppressed[0].detail
    within = decide(VALIDATION, us(), first_call, "2026-11-23T12:00:00-05:00")  # day 5: still allowed
    assert planned(within) == ["reminder_email", "validation_letter"]


# -- the account model ------------------------------------------------------------------------------------

CALLS = """
[policy]
id = "bank-us"
timezone = "America/New_York"
locale = "en-US"
extends = ["baseline:us-reg-f"]

[[stages]]
id = "early"
dpd = { from = 1, to = 89 }
  [[stages.actions]]
  id = "call"
  channel = "voice"
  template = "t"
  [[stages.actions]]
  id = "mail"
  channel = "email"
  template = "t"
"""


def test_conflicting_location_means_times_valid_in_every_zone(decide: Decide) -> None:
    # Reg F 1006.6(b)(1)(i): phone area code in New York, address in Los Angeles
    both = us(timezones=["America/New_York", "America/Los_Angeles"])
    d = decide(CALLS, both, VALIDATED, "2026-11-24T10:00:00-05:00")  # 07:00 in Los Angeles
    assert {action.send_at.isoformat() for action in d.actions} == {"2026-11-24T11:00:00-05:00"}
    late = decide(CALLS, both, VALIDATED, "2026-11-24T21:30:00-05:00")
    assert set(reasons(late).values()) == {"quiet_hours"}
    assert "may be in several time zones" in late.suppressed[0].detail


def test_workplace_email_and_phone_are_not_used(decide: Decide) -> None:
    # Reg F 1006.22(f)(3) (employer-provided e-mail), 1006.6(b)(3) (calls at the place of employment)
    work = us(contact={"phone": "+12125550100", "email": "a@employer.example", "address": "1 Main St",
                       "email_at_work": True, "phone_at_work": True})
    d = decide(CALLS, work, VALIDATED, NOON_NY)
    assert reasons(d) == {"call": "no_contact_point", "mail": "no_contact_point"}
    assert "workplace" in d.suppressed[0].detail


def test_customer_stated_contact_hours_are_honoured(decide: Decide) -> None:
    # UK CONC 7: honour the customer's stated preferences (here: calls after 17:00 only)
    asked = us(preferred_hours={"start": "17:00", "end": "19:00"})
    d = decide(CALLS, asked, VALIDATED, NOON_NY)
    assert {action.send_at.isoformat() for action in d.actions} == {"2026-11-24T17:00:00-05:00"}
    assert {action.not_after.isoformat() for action in d.actions if action.not_after} == {"2026-11-24T19:00:00-05:00"}


UK_CALLS = """
[policy]
id = "bank-uk"
timezone = "Europe/London"
locale = "en-GB"
extends = ["baseline:uk-conc"]

[[stages]]
id = "early"
dpd = { from = 1, to = 89 }
  [[stages.actions]]
  id = "call"
  channel = "voice"
  template = "t"
"""


def test_breathing_space_from_its_start_event_for_sixty_days(decide: Decide) -> None:
    # Debt Respite Scheme: a standard breathing space lasts 60 days
    started = [event("breathing_space_started", "2026-10-01T10:00:00+01:00", breathing_space="standard")]
    uk_account = account(timezone="Europe/London")
    assert reasons(decide(UK_CALLS, uk_account, started, "2026-11-24T12:00:00+00:00")) == {"call": "hold"}
    assert planned(decide(UK_CALLS, uk_account, started, "2026-11-30T12:00:00+00:00")) == ["call"]


def test_mental_health_crisis_breathing_space_ends_thirty_days_after_treatment(decide: Decide) -> None:
    history = [event("breathing_space_started", "2026-06-01T10:00:00+01:00", breathing_space="mental_health_crisis"),
               event("breathing_space_ended", "2026-11-01T10:00:00+00:00")]
    uk_account = account(timezone="Europe/London")
    assert reasons(decide(UK_CALLS, uk_account, history, "2026-11-30T12:00:00+00:00")) == {"call": "hold"}
    assert planned(decide(UK_CALLS, uk_account, history, "2026-12-01T12:00:00+00:00")) == ["call"]
    running = history[:1]  # treatment not ended: the breathing space goes on past 60 days
    assert reasons(decide(UK_CALLS, uk_account, running, "2026-11-30T12:00:00+00:00")) == {"call": "hold"}


# -- a jurisdiction means its baseline --------------------------------------------------------------------

def test_a_us_policy_must_extend_regulation_f(tmp_path: Path) -> None:
    path = tmp_path / "policy.toml"
    path.write_text('[policy]\nid = "bank"\njurisdiction = "US"\napplies_to = { region = { in = ["US", "US-MA"] } }'
                    '\n', encoding="utf-8")
    from policy_engine._exceptions import PolicyValidationError

    try:
        load_policy(path)
    except PolicyValidationError as error:
        found = [(issue.path, issue.hint) for issue in error.issues if issue.code == "missing_baseline"]
    else:
        found = []
    assert found == [("policy.jurisdiction", 'add "baseline:us-reg-f" to extends'),
                     ("policy.applies_to", 'add "baseline:us-ma" to extends')]


def test_legal_action_before_the_minimum_dpd_is_suppressed_even_with_an_old_notice(decide: Decide) -> None:
    # baseline cn: more than three months (DPD 93); a warning from an earlier episode does not bring it forward
    policy = """
[policy]
id = "bank-cn"
timezone = "Asia/Shanghai"
extends = ["baseline:cn"]

[[notices]]
id = "pre_legal_warning"

[[stages]]
id = "early"
dpd = { from = 1, to = 89 }

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
"""
    old_warning = [contact("2026-10-01T10:00:00+08:00", "letter", "delivered", notice="pre_legal_warning",
                           action="warning")]
    at_92 = decide(policy, account(delinquent_since="2026-08-28", timezone="Asia/Shanghai"), old_warning,
                   "2026-11-28T09:00:00+08:00")
    assert reasons(at_92)["referral"] == "legal_too_early"
    assert "policies/baselines/cn.toml" in (next(s.source for s in at_92.suppressed if s.action == "referral") or "")
    at_93 = decide(policy, account(delinquent_since="2026-08-27", timezone="Asia/Shanghai"), old_warning,
                   "2026-11-28T09:00:00+08:00")
    assert "referral" in planned(at_93)


def test_several_baselines_cite_each_limit_where_it_is_written(tmp_path: Path) -> None:
    # us-ma and us-nyc both extend us-reg-f: Reg F's own limits are cited in us-reg-f.toml
    path = tmp_path / "policy.toml"
    path.write_text('[policy]\nid = "bank"\nextends = ["baseline:us-reg-f", "baseline:us-ma", "baseline:us-nyc"]\n',
                    encoding="utf-8")
    sources = load_policy(path).sources
    from policy_engine.policy.origins import OriginKey

    assert sources[OriginKey("contact_hours")].startswith("baseline us-reg-f, policies/baselines/us-reg-f.toml:")
    assert sources[OriginKey("hold", "dispute")].startswith("baseline us-reg-f, ")
    assert sources[OriginKey("legal.time_barred_after_days")].startswith("baseline us-reg-f, ")
    assert sources[OriginKey("legal.time_barred_after_days_by_region", "US-NYC")].startswith("baseline us-nyc, ")
