"""Baselines: `extends` resolution, tighten-only merging and the legal safeguards every baseline imposes.

Every loosening must name the policy's line (Issue.location) and the baseline's file and line
(Issue.related), so a compliance analyst can see both sides of the conflict.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path

import pytest

from policy_engine._exceptions import Location
from tests.policy.helpers import FILE, MINIMAL, REPO, at, baseline_line, change, issues, only_issue, report

pytestmark = pytest.mark.usefixtures("in_tmp")

BASELINES = sorted(p.stem for p in (REPO / "policies" / "baselines").glob("*.toml"))
LEGAL_HINT = "a policy may only tighten what it extends"


UK_NOTICES = """
  [[stages.actions]]
  id = "default_notice_letter"
  channel = "letter"
  template = "pre_legal_warning"
  notice = "default_notice"
  once = true

  [[stages.actions]]
  id = "letter_of_claim_letter"
  channel = "letter"
  template = "pre_legal_warning"
  notice = "letter_of_claim"
  once = true

[[offers]]"""


def extending(name: str, text: str = MINIMAL) -> str:
    """``text`` extending the shipped baseline ``name`` instead of cn (for uk-conc, with letters sending the
    default notice and the Letter of Claim the baseline requires before any legal action)."""
    text = change('extends = ["baseline:cn"]', f'extends = ["baseline:{name}"]', text)
    if name == "uk-conc":
        text = change("\n[[offers]]", UK_NOTICES, text)
    return text


def test_the_five_baselines_ship() -> None:
    assert {"cn", "us-reg-f", "us-ma", "us-nyc", "uk-conc"} <= set(BASELINES)


@pytest.mark.parametrize("name", BASELINES)
def test_minimal_policy_is_valid_under_every_baseline(name: str) -> None:
    rep = report(extending(name))
    assert rep.issues == [], "\n".join(map(str, rep.issues))


# ---------------------------------------------------------------------- loosening a baseline
@dataclass(frozen=True)
class Loosening:
    id: str
    baseline: str
    old: str
    new: str
    where: str  # in the policy
    path: str
    message: str
    origin: tuple[str, str]  # (baseline file name, text where the loosened limit is written)


LOOSENINGS = [
    Loosening("widen-contact-hours", "cn", 'start = "09:00"', 'start = "07:00"', "contact_hours",
              "guardrails.contact_hours",
              "widens contact hours to 07:00-21:00; baseline cn allows only 08:00-22:00",
              ("cn", "contact_hours =")),
    Loosening("widen-channel-hours", "cn", "max_contacts_per_day = 3\n",
              'max_contacts_per_day = 3\nchannel_hours = { sms = { start = "07:30", end = "20:00" } }\n',
              "sms = {", "guardrails.channel_hours.sms",
              "widens sms hours to 07:30-20:00; baseline cn allows only 08:00-22:00", ("cn", "contact_hours =")),
    Loosening("raise-cap-same-channels-and-days", "cn", "max = 4, days = 1", "max = 8, days = 1", "max = 8",
              "guardrails.caps[0].max", "raises the cap on call over 1 day to 8; baseline cn allows 6",
              ("cn", "[[guardrails.caps]]")),
    Loosening("raise-weekly-call-cap", "us-reg-f", "max = 4, days = 1", "max = 9, days = 7", "max = 9",
              "guardrails.caps[0].max", "raises the cap on call over 7 days to 9; baseline us-reg-f allows 7",
              ("us-reg-f", "[[guardrails.caps]]")),
    Loosening("raise-inherited-cap", "us-ma", '{ kinds = ["call"], max = 4, days = 1 }',
              '{ kinds = ["call", "text"], regions = ["US-MA"], max = 3, days = 7 }', "max = 3",
              "guardrails.caps[0].max",
              "raises the cap on call, text over 7 days in US-MA to 3; baseline us-ma allows 2",
              ("us-ma", "[[guardrails.caps]]")),
    Loosening("raise-cap-set-two-baselines-up", "us-nyc", "max = 4, days = 1", "max = 8, days = 7", "max = 8",
              "guardrails.caps[0].max", "raises the cap on call over 7 days to 8; baseline us-reg-f allows 7",
              ("us-reg-f", "[[guardrails.caps]]")),
    Loosening("shorten-after-conversation", "us-reg-f", "max_contacts_per_day = 3\n",
              'max_contacts_per_day = 3\nafter_conversation = [ { kinds = ["call"], days = 3 } ]\n',
              "days = 3", "guardrails.after_conversation[0].days",
              "shortens the pause after a conversation to 3 days; baseline us-reg-f requires 7",
              ("us-reg-f", "[[guardrails.after_conversation]]")),
    Loosening("narrow-hold-to-fewer-channels", "cn", '[[holds]]\nid = "complaint"',
              '[[holds]]\nid = "dispute"\nwhen = { flags.dispute = true }\nchannels = ["voice"]\n\n'
              '[[holds]]\nid = "complaint"', 'channels = ["voice"]\n\n[[holds]]', "holds[0].channels",
              "narrows hold 'dispute' of baseline cn to fewer channels; a baseline hold cannot be dropped, changed "
              "or narrowed (add a new hold with another id instead)", ("cn", '[[holds]]\nid = "dispute"')),
    Loosening("drop-hold-by-changing-its-condition", "cn", '[[holds]]\nid = "complaint"',
              '[[holds]]\nid = "hardship"\nwhen = { flags.hardship = true, balance = { gte = 1000000 } }\n\n'
              '[[holds]]\nid = "complaint"', "when = { flags.hardship", "holds[0].when",
              "changes the condition of hold 'hardship' of baseline cn; a baseline hold cannot be dropped, changed "
              "or narrowed (add a new hold with another id instead)", ("cn", '[[holds]]\nid = "hardship"')),
    Loosening("exempt-channel-from-hold", "us-reg-f", '[[holds]]\nid = "complaint"',
              '[[holds]]\nid = "attorney"\nwhen = { flags.attorney = true }\nexcept_channels = ["letter"]\n\n'
              '[[holds]]\nid = "complaint"', "except_channels", "holds[0].except_channels",
              "narrows hold 'attorney' of baseline us-reg-f to fewer channels; a baseline hold cannot be dropped, "
              "changed or narrowed (add a new hold with another id instead)",
              ("us-reg-f", '[[holds]]\nid = "attorney"')),
    Loosening("lower-legal-min-dpd", "cn", "max_contacts_per_day = 3\n",
              "max_contacts_per_day = 3\nlegal = { min_dpd = 60 }\n", "min_dpd = 60", "guardrails.legal.min_dpd",
              "allows legal action from DPD 60; baseline cn requires at least 93", ("cn", "min_dpd =")),
    Loosening("lower-min-notice-days", "uk-conc", "max_contacts_per_day = 3\n",
              "max_contacts_per_day = 3\nlegal = { min_dpd = 90, min_notice_days = 7 }\n", "min_notice_days = 7",
              "guardrails.legal.min_notice_days",
              "shortens the wait after the pre-legal notice to 7 days; baseline uk-conc requires 14",
              ("uk-conc", "min_notice_days =")),
    Loosening("drop-required-notice", "cn", "max_contacts_per_day = 3\n",
              "max_contacts_per_day = 3\nlegal = { min_dpd = 93, require_notice = false }\n",
              "require_notice = false", "guardrails.legal.require_notice",
              "drops the written notice required before legal action by baseline cn", ("cn", "require_notice =")),
    Loosening("extend-limitation-period", "uk-conc", "max_contacts_per_day = 3\n",
              "max_contacts_per_day = 3\nlegal = { min_dpd = 90, time_barred_after_days = 3000 }\n",
              "time_barred_after_days = 3000", "guardrails.legal.time_barred_after_days",
              "extends the limitation period to 3000 days; baseline uk-conc sets 2190",
              ("uk-conc", "time_barred_after_days =")),
    Loosening("unknown-consent-as-allow", "us-reg-f", "max_contacts_per_day = 3\n",
              'max_contacts_per_day = 3\nunknown_consent = { email = "allow" }\n', 'email = "allow"',
              "guardrails.unknown_consent.email", "treats unknown email consent as 'allow'; baseline us-reg-f "
              "requires 'deny'", ("us-reg-f", 'email = "deny"')),
    Loosening("unknown-consent-as-allow-nyc", "us-nyc", "max_contacts_per_day = 3\n",
              'max_contacts_per_day = 3\nunknown_consent = { sms = "allow" }\n', 'sms = "allow"',
              "guardrails.unknown_consent.sms", "treats unknown sms consent as 'allow'; baseline us-nyc "
              "requires 'deny'", ("us-nyc", 'sms = "deny"')),
    Loosening("replace-holiday-calendar", "cn", "max_contacts_per_day = 3\n",
              'max_contacts_per_day = 3\nholidays = "US"\n', 'holidays = "US"', "guardrails.holidays",
              "replaces the holiday calendar 'CN' of baseline cn with 'US' (a policy may only add a subdivision "
              "such as 'CN-XX')", ("cn", "holidays =")),
    Loosening("stop-pausing-for-promises", "cn", "max_contacts_per_day = 3\n",
              "max_contacts_per_day = 3\npause_while_promise_active = false\n", "pause_while_promise_active",
              "guardrails.pause_while_promise_active",
              "stops pausing contact during an active promise; baseline cn requires the pause",
              ("cn", "pause_while_promise_active =")),
    Loosening("turn-off-limited-content-voicemail", "us-reg-f", "max_contacts_per_day = 3\n",
              "max_contacts_per_day = 3\ncontent = { voicemail_limited_content = false }\n",
              "voicemail_limited_content = false", "guardrails.content.voicemail_limited_content",
              "turns off limited-content voicemail; baseline us-reg-f requires it",
              ("us-reg-f", "voicemail_limited_content =")),
    Loosening("raise-max-installment-months", "cn", "max_contacts_per_day = 3\n",
              "max_contacts_per_day = 3\nmax_installment_months = 84\n", "max_installment_months = 84",
              "guardrails.max_installment_months",
              "raises max_installment_months to 84; baseline cn allows 60", ("cn", "max_installment_months =")),
]


@pytest.mark.parametrize("case", LOOSENINGS, ids=lambda c: c.id)
def test_loosening_names_both_lines(case: Loosening) -> None:
    text = change(case.old, case.new, extending(case.baseline))
    issue = only_issue(text)
    baseline = baseline_line(*case.origin)
    assert (issue.path, issue.message, issue.code) == (case.path, case.message, "loosens_baseline")
    assert issue.location == at(text, case.where)
    assert issue.related == (baseline,)
    assert issue.hint == LEGAL_HINT
    shown = str(issue)
    assert shown.startswith(f"{issue.location}: error: {case.path}: ")
    assert f"see {baseline}" in shown


def test_tightening_is_not_loosening() -> None:
    """Narrower hours, lower caps, longer waits, more holds, a subdivision calendar: all accepted."""
    text = change("max_contacts_per_day = 3\n", "max_contacts_per_day = 3\n"
                  'holidays = "US-CA"\nchannel_hours = { voice = { start = "10:00", end = "18:00" } }\n'
                  "after_conversation = [ { kinds = [\"call\"], days = 10 } ]\n"
                  "legal = { min_dpd = 90, min_notice_days = 45 }\n", extending("us-reg-f"))
    text = change("delivered_days_ago = { gte = 30 }", "delivered_days_ago = { gte = 45 }", text)
    text = change("max = 4, days = 1", "max = 5, days = 7", text)
    rep = report(text)
    assert rep.issues == [], "\n".join(map(str, rep.issues))
    g = rep.policy.policy.guardrails
    assert (g.legal.min_dpd, g.legal.min_notice_days, g.legal.require_notice) == (90, 45, True)
    assert [(c.kinds, c.days, c.max) for c in g.caps] == [(["call"], 7, 5)]
    assert g.holidays == "US-CA" and g.after_conversation[0].days == 10


def test_raising_max_contacts_per_day_of_a_bank_baseline(in_tmp: Path) -> None:
    """None of the shipped baselines caps contacts per day: a group-wide baseline file does."""
    base = ('[policy]\nid = "group-rules"\nkind = "baseline"\nextends = ["baseline:cn"]\n\n'
            "[guardrails]\nmax_contacts_per_day = 2\n")
    (in_tmp / "group.toml").write_text(base, encoding="utf-8")
    text = change('extends = ["baseline:cn"]', 'extends = ["group.toml"]')
    issue = only_issue(text)
    assert issue.path == "guardrails.max_contacts_per_day"
    assert issue.message == "raises max_contacts_per_day to 3; baseline group-rules allows 2"
    assert issue.location == at(text, "max_contacts_per_day = 3")
    assert issue.related == (at(base, "max_contacts_per_day = 2", file="group.toml"),)


def test_writing_legal_rules_without_min_notice_days_does_not_shorten_the_notice_wait() -> None:
    """min_notice_days left out keeps the baseline's 30 days; it is not read as 0 (a loosening)."""
    rep = report(change("max_contacts_per_day = 3\n", "max_contacts_per_day = 3\nlegal = { min_dpd = 93 }\n"))
    assert rep.issues == [], "\n".join(map(str, rep.issues))
    assert rep.policy.policy.guardrails.legal.min_notice_days == 30


def test_several_loosenings_are_all_reported_in_file_order() -> None:
    text = change("max_contacts_per_day = 3\n",
                  "max_contacts_per_day = 3\nlegal = { min_dpd = 93, min_notice_days = 7, require_notice = false }\n",
                  change('start = "09:00"', 'start = "07:00"'))
    found = issues(text)
    assert [i.path for i in found] == ["guardrails.contact_hours", "guardrails.legal.min_notice_days",
                                       "guardrails.legal.require_notice"]
    assert [i.location for i in found] == sorted(i.location for i in found)


# ---------------------------------------------------------------------- legal safeguards under every baseline
def _legal_origin(name: str) -> str | None:
    """The baseline in ``name``'s extends chain that writes the legal rules (nearest first)."""
    data = tomllib.loads((REPO / "policies" / "baselines" / f"{name}.toml").read_text(encoding="utf-8"))
    if "min_dpd" in data.get("guardrails", {}).get("legal", {}):
        return name
    for entry in data["policy"].get("extends", []):
        if entry.startswith("baseline:") and (found := _legal_origin(entry.split(":", 1)[1])):
            return found
    return None


def _legal(name: str) -> tuple[str, dict]:
    origin = _legal_origin(name)
    if origin is None:
        pytest.skip(f"baseline {name} sets no legal rules")
    data = tomllib.loads((REPO / "policies" / "baselines" / f"{origin}.toml").read_text(encoding="utf-8"))
    return origin, data["guardrails"]["legal"]


def test_legal_origins_of_the_shipped_baselines() -> None:
    assert {n: _legal_origin(n) for n in ("cn", "us-reg-f", "us-ma", "us-nyc", "uk-conc")} == {
        "cn": "cn", "us-reg-f": "us-reg-f", "us-ma": "us-reg-f", "us-nyc": "us-reg-f", "uk-conc": "uk-conc"}


@pytest.mark.parametrize("name", BASELINES)
def test_legal_action_without_written_notice(name: str) -> None:
    origin, legal = _legal(name)
    text = change('  requires = { notice = "pre_legal_warning", delivered_days_ago = { gte = 30 } }\n', "",
                  extending(name))
    # without the wait, the stage itself must start late enough (cn: 93)
    first_legal_day = max(90, legal["min_dpd"])
    text = change("dpd = { from = 90 }", f"dpd = {{ from = {first_legal_day} }}", text)
    text = change("dpd = { from = 1, to = 89 }", f"dpd = {{ from = 1, to = {first_legal_day - 1} }}", text)
    if legal.get("required_notices"):  # the baseline's own notices precede every legal action
        assert issues(text) == []
        return
    issue = only_issue(text)
    required_at = baseline_line(origin, "require_notice =")
    assert issue.path == "stages[1].actions[1]"
    assert issue.location == at(text, '[[stages.actions]]\n  id = "legal_referral"')
    assert issue.code == "legal_without_notice"
    assert issue.message == ("legal action 'legal_referral' has no prerequisite on a written notice "
                             f"(required by baseline {origin}, {required_at})")
    assert issue.related == (required_at,)
    assert issue.hint == ('add requires = { notice = "pre_legal_warning", delivered_days_ago = { gte = '
                          f'{legal["min_notice_days"]} }} }} (written notices this policy sends by letter: '
                          'pre_legal_warning)')


@pytest.mark.parametrize("name", BASELINES)
def test_legal_action_in_a_stage_before_the_baseline_min_dpd(name: str) -> None:
    origin, legal = _legal(name)
    start = legal["min_dpd"] - 31  # the notice it waits 30 days for is sent in the same stage: DPD start + 30
    text = change("dpd = { from = 1, to = 89 }", f"dpd = {{ from = 1, to = {start - 1} }}", extending(name))
    text = change("dpd = { from = 90 }", f"dpd = {{ from = {start} }}", text)
    issue = only_issue(text)
    assert issue.path == "stages[1].actions[1]"
    assert issue.location == at(text, '[[stages.actions]]\n  id = "legal_referral"')
    assert issue.message == (f"legal action 'legal_referral' is in stage 'pre_legal' which starts at DPD {start}, "
                             f"so it could go out at DPD {start + 30}; legal action needs DPD of at least "
                             f"{legal['min_dpd']}")
    assert issue.related == (baseline_line(origin, "min_dpd ="),)


@pytest.mark.parametrize("name", BASELINES)
def test_legal_notice_wait_shorter_than_the_baseline(name: str) -> None:
    origin, legal = _legal(name)
    wait = legal["min_notice_days"] - 1
    text = change("delivered_days_ago = { gte = 30 }", f"delivered_days_ago = {{ gte = {wait} }}", extending(name))
    issue = only_issue(text)
    assert issue.path == "stages[1].actions[1].requires[0].delivered_days_ago"
    assert issue.location == at(text, f"delivered_days_ago = {{ gte = {wait} }}")
    assert issue.message == (f"waits {wait} days after notice 'pre_legal_warning'; baseline {origin} requires at "
                             f"least {legal['min_notice_days']}")
    assert issue.related == (baseline_line(origin, "min_notice_days ="),)


def test_legal_action_without_any_legal_rules_is_a_warning() -> None:
    """A policy that extends nothing is still warned that legal means come after a written warning."""
    text = change('extends = ["baseline:cn"]\n', "")
    text = change('  requires = { notice = "pre_legal_warning", delivered_days_ago = { gte = 30 } }\n', "", text)
    issue = only_issue(text)
    assert issue.severity == "warning"
    assert issue.location == at(text, '[[stages.actions]]\n  id = "legal_referral"')
    assert issue.message == ("legal action 'legal_referral' has no written-notice prerequisite: legal means should "
                             "come only after a full written warning")
    assert issue.hint == ('add requires = { notice = "pre_legal_warning", delivered_days_ago = { gte = 0 } } '
                          "(written notices this policy sends by letter: pre_legal_warning)")


# ---------------------------------------------------------------------- extends resolution
def test_unknown_baseline_name_suggests_the_right_one() -> None:
    text = change('"baseline:cn"', '"baseline:cnn"')
    issue = only_issue(text)
    assert issue.location == at(text, '"baseline:cnn"')
    assert issue.path == "policy.extends[0]"
    assert issue.message == "unknown baseline 'cnn' — did you mean 'cn'?"
    assert issue.hint == "shipped baselines: " + ", ".join(BASELINES)


def test_unknown_baseline_in_second_entry() -> None:
    text = change('extends = ["baseline:cn"]', 'extends = ["baseline:cn", "baseline:us-regf"]')
    issue = only_issue(text)
    assert issue.location == at(text, '"baseline:us-regf"')
    assert issue.path == "policy.extends[1]"
    assert issue.message == "unknown baseline 'us-regf' — did you mean 'us-reg-f'?"


def test_extends_missing_file(in_tmp: Path) -> None:
    text = change('"baseline:cn"', '"group-rules.toml"')
    issue = only_issue(text)
    assert issue.location == at(text, '"group-rules.toml"')
    assert issue.path == "policy.extends[0]"
    assert issue.message == f"extends 'group-rules.toml', but no file exists at {in_tmp.resolve() / 'group-rules.toml'}"
    assert issue.hint == "paths are relative to this file; shipped baselines are named like 'baseline:cn'"


def test_extends_cycle_of_two(in_tmp: Path) -> None:
    a = '[policy]\nid = "a"\nextends = ["b.toml"]\n'
    b = '[policy]\nid = "b"\nextends = ["a.toml"]\n'
    (in_tmp / "b.toml").write_text(b, encoding="utf-8")
    issue = only_issue(a, "a.toml")
    assert issue.location == at(b, '"a.toml"', file="b.toml")
    assert issue.path == "policy.extends[0]"
    assert issue.message == "extends cycle: a.toml -> b.toml -> a.toml"
    assert issue.code == "extends_cycle"


def test_extends_itself(in_tmp: Path) -> None:
    a = '[policy]\nid = "a"\nextends = ["baseline:cn", "./a.toml"]\n'
    issue = only_issue(a, "a.toml")
    assert issue.location == at(a, '"./a.toml"', file="a.toml")
    assert issue.path == "policy.extends[1]"
    assert issue.message == "extends cycle: a.toml -> a.toml"


def test_error_in_an_extended_file_is_located_in_that_file(in_tmp: Path) -> None:
    group = '[policy]\nid = "group"\nkind = "baseline"\n\n[guardrails]\nmax_contacts_per_dya = 2\n'
    (in_tmp / "group.toml").write_text(group, encoding="utf-8")
    issue = only_issue(change('"baseline:cn"', '"group.toml"'))
    assert issue.location == at(group, "max_contacts_per_dya", file="group.toml")
    assert issue.message == "unknown key 'max_contacts_per_dya' — did you mean 'max_contacts_per_day'?"


def test_syntax_error_in_an_extended_file(in_tmp: Path) -> None:
    (in_tmp / "group.toml").write_text('[policy]\nid = "group\n', encoding="utf-8")
    issue = only_issue(change('"baseline:cn"', '"group.toml"'))
    assert issue.location == Location("group.toml", 2, 6)
    assert issue.message == "TOML syntax error: text not closed: the closing quote is missing at the end of the line"


def test_bank_policy_extending_a_bank_baseline_in_a_subdirectory(in_tmp: Path) -> None:
    (in_tmp / "shared").mkdir()
    (in_tmp / "shared" / "group.toml").write_text(
        '[policy]\nid = "group"\nkind = "baseline"\nextends = ["baseline:us-nyc"]\n\n[guardrails]\n'
        "max_contacts_per_day = 5\n", encoding="utf-8")
    rep = report(change('"baseline:cn"', '"shared/group.toml"'))
    assert rep.issues == [], "\n".join(map(str, rep.issues))
    assert [s.display for s in rep.policy.chain] == [
        "policies/baselines/us-reg-f.toml", "policies/baselines/us-nyc.toml", "shared/group.toml", FILE]
