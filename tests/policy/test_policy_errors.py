"""Malformed policies, one change each to a minimal valid policy: exact location, key path and message.

Every case below starts from tests/policy/cases/minimal.toml (which must validate clean: the first test)
and changes one thing, so the issue reported is caused by that change. Locations are asserted as the
line and column where a given piece of text starts in the changed file.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from policy_engine._exceptions import Issue, Location
from policy_engine.policy.validate import validate_paths
from tests.policy.helpers import FILE, MINIMAL, at, change, issues, only_issue, pos, report

pytestmark = pytest.mark.usefixtures("in_tmp")

CHANNELS = "agent, email, legal, letter, sms, sms_apprise, voice, webhook"


@dataclass(frozen=True)
class Case:
    """One change to the minimal policy and the single issue it must cause."""

    id: str
    old: str
    new: str
    where: str  # the issue points where this text starts in the changed policy
    path: str
    message: str
    severity: str = "error"
    hint: str | None = None  # when given: must be contained in Issue.hint
    nth: int = 1  # which occurrence of `where`
    also: tuple[tuple[str, str], ...] = ()  # further (old, new) edits that belong to the same change

    @property
    def text(self) -> str:
        text = change(self.old, self.new)
        for old, new in self.also:
            text = change(old, new, text)
        return text


def first(ident: str) -> str:
    """'policy.toml:LINE:COL' of `id = "ident"` in the minimal policy (where a duplicated id was first defined)."""
    line, col = pos(MINIMAL, f'id = "{ident}"')
    return f"{FILE}:{line}:{col}"


CASES = [
    # ------------------------------------------------------------------ wrong types
    Case("number-as-string", "max_contacts_per_day = 3", 'max_contacts_per_day = "3"',
         'max_contacts_per_day = "3"', "guardrails.max_contacts_per_day",
         "expected a whole number, found the string '3'"),
    Case("bool-where-list", '  segments = ["high_risk"]', "  segments = true", "segments = true",
         "stages[0].actions[1].segments", "expected a list ([...]), found true"),
    Case("bool-where-channel-list", '{ kinds = ["call"], max = 4, days = 1 }',
         "{ channels = true, max = 4, days = 1 }", "channels = true", "guardrails.caps[0].channels",
         "expected a list ([...]), found true"),
    Case("fraction-where-whole-number", '{ kinds = ["call"], max = 4, days = 1 }',
         '{ channels = ["voice"], max = 4.5, days = 1 }', "max = 4.5", "guardrails.caps[0].max",
         "expected a whole number, found 4.5"),
    Case("negative-cap", '{ kinds = ["call"], max = 4, days = 1 }',
         '{ channels = ["voice"], max = -1, days = 1 }', "max = -1", "guardrails.caps[0].max",
         "must be at least 0, found -1"),
    Case("string-where-list", 'extends = ["baseline:cn"]', 'extends = "baseline:cn"', "extends =",
         "policy.extends", "expected a list ([...]), found the string 'baseline:cn'"),
    Case("number-where-table", "delivered_days_ago = { gte = 30 }", "delivered_days_ago = 30",
         "delivered_days_ago = 30", "stages[1].actions[1].requires[0].delivered_days_ago",
         "expected a table ({...}), found 30", hint="keys allowed in this table: gte"),
    Case("bool-where-months", "months = 24", "months = true", "months = true", "offers[0].months",
         "expected a whole number, found true"),
    Case("string-where-months", "months = 24", 'months = "24"', 'months = "24"', "offers[0].months",
         "expected a whole number, found the string '24'"),
    Case("section-written-inside-policy-table", 'locale = "zh-CN"\n', 'locale = "zh-CN"\nholds = []\n',
         "holds = []", "policy.holds",
         "unknown key 'holds' in [policy]: 'holds' is a section of its own; write it as [[holds]] or move it "
         "above the first [table] header"),
    Case("condition-not-a-table", "when = { credit_score = { lt = 600 } }", "when = 5", "when = 5",
         "segments[0].when", "a condition must be a table such as { dpd = { gte = 30 } }, found 5"),
    Case("condition-compares-number-with-string", "when = { credit_score = { lt = 600 } }",
         'when = { credit_score = { lt = "600" } }', 'lt = "600"', "segments[0].when.credit_score.lt",
         "credit_score must be compared with a whole number, found '600'"),
    Case("flag-compared-with-number", "when = { balance = { gte = 5000 } }",
         "when = { not = { flags.hardship = 1 } }", "flags.hardship = 1",
         "stages[1].actions[1].when.not.flags.hardship", "flags.hardship must be compared with true or false, found 1"),
    Case("ordering-a-string-fact", "when = { credit_score = { lt = 600 } }", 'when = { region = { gt = "US" } }',
         'gt = "US"', "segments[0].when.region.gt",
         "region is a string: 'gt' cannot compare it (use eq, ne, in, not_in)"),
    Case("empty-any", "when = { credit_score = { lt = 600 } }", "when.any = []", "when.any = []",
         "segments[0].when.any", "'any' takes a non-empty list of conditions"),
    Case("fact-missing-its-window", "when = { credit_score = { lt = 600 } }", "when = { contacts = { gte = 3 } }",
         "contacts = {", "segments[0].when.contacts", "contacts needs the parameter 'days'"),
    Case("segment-tested-inside-a-segment", "when = { credit_score = { lt = 600 } }",
         'when = { segment = "standard" }', 'segment = "standard"', "segments[0].when.segment",
         "'segment' cannot be used here: a segment's condition decides the segment, so it cannot test it"),
    # ------------------------------------------------------------------ unknown keys, every level
    Case("unknown-key-policy", 'locale = "zh-CN"\n', 'locale = "zh-CN"\nextnds = ["baseline:cn"]\n', "extnds",
         "policy.extnds", "unknown key 'extnds' — did you mean 'extends'?",
         hint="allowed here: applies_to, currency, description"),
    Case("unknown-key-guardrails", "max_contacts_per_day = 3\n",
         "max_contacts_per_day = 3\nmax_contact_per_day = 2\n", "max_contact_per_day = 2",
         "guardrails.max_contact_per_day", "unknown key 'max_contact_per_day' — did you mean 'max_contacts_per_day'?"),
    Case("unknown-key-stage", "dpd = { from = 1, to = 89 }\n", 'dpd = { from = 1, to = 89 }\ndescripton = "x"\n',
         "descripton", "stages[0].descripton", "unknown key 'descripton' — did you mean 'description'?",
         hint="allowed here: actions, description, dpd, id, when"),
    Case("unknown-key-action", "  every_days = 3\n", '  every_days = 3\n  temlate = "x"\n', "temlate",
         "stages[0].actions[0].temlate", "unknown key 'temlate' — did you mean 'template'?"),
    Case("unknown-key-offer", "months = 24\n", "months = 24\nmonth = 3\n", "month = 3", "offers[0].month",
         "unknown key 'month' — did you mean 'months'?"),
    Case("unknown-key-requires", "delivered_days_ago = { gte = 30 }", "delivered_days = { gte = 30 }",
         "delivered_days =", "stages[1].actions[1].requires[0].delivered_days",
         "unknown key 'delivered_days' — did you mean 'delivered_days_ago'?",
         hint="allowed here: delivered_days_ago, notice"),
    Case("unknown-key-escalation", "[escalation.broken_promise]", "[escalation.broken_promis]",
         "[escalation.broken_promis]", "escalation.broken_promis",
         "unknown key 'broken_promis' — did you mean 'broken_promise'?"),
    Case("unknown-key-test", "[[tests]]\n", '[[tests]]\nnme = "x"\n', 'nme = "x"', "tests[0].nme",
         "unknown key 'nme' — did you mean 'name'?"),
    Case("unknown-key-legal", "max_contacts_per_day = 3\n",
         "max_contacts_per_day = 3\nlegal = { min_dpd = 120, min_notice_day = 45 }\n", "min_notice_day",
         "guardrails.legal.min_notice_day", "unknown key 'min_notice_day' — did you mean 'min_notice_days'?"),
    # ------------------------------------------------------------------ typos in names and references
    Case("channel-typo", '  channel = "sms"', '  channel = "smss"', 'channel = "smss"',
         "stages[0].actions[0].channel", "unknown channel 'smss' — did you mean 'sms'?",
         hint=f"registered channels: {CHANNELS}"),
    Case("cap-channel-typo", '{ kinds = ["call"], max = 4, days = 1 }',
         '{ channels = ["voise"], max = 4, days = 1 }', '"voise"', "guardrails.caps[0].channels[0]",
         "unknown channel 'voise' — did you mean 'voice'?"),
    Case("escalation-channel-typo", 'action = { channel = "agent" }', 'action = { channel = "agnet" }',
         'channel = "agnet"', "escalation.broken_promise.action.channel",
         "unknown channel 'agnet' — did you mean 'agent'?"),
    Case("consent-channel-typo", "when = { credit_score = { lt = 600 } }", "when = { consent.smss = true }",
         "consent.smss", "segments[0].when.consent.smss", "unknown channel 'smss' — did you mean 'sms'?"),
    Case("window-channel-typo", "when = { credit_score = { lt = 600 } }",
         'when = { contacts = { days = 7, channels = ["smss"], gte = 3 } }', 'channels = ["smss"]',
         "segments[0].when.contacts.channels", "unknown channel 'smss' — did you mean 'sms'?"),
    Case("fact-typo", "when = { credit_score = { lt = 600 } }", "when = { credit_scor = { lt = 600 } }",
         "credit_scor =", "segments[0].when.credit_scor",
         "unknown fact 'credit_scor' — did you mean 'credit_score'? (allowed: active_promise, all, "
         "amount_past_due, any, attributes, balance, broken_promises, consent, contact, contacts, conversations, "
         "credit_score, currency, days_since_last_conversation, days_since_last_payment, days_since_notice, dpd, "
         "flags, language, minimum_due, not, notices_sent, prior_delinquencies, product, region)"),
    Case("operator-typo", "when = { credit_score = { lt = 600 } }", "when = { credit_score = { lte_ = 600 } }",
         "lte_", "segments[0].when.credit_score.lte_",
         "unknown operator 'lte_' for credit_score — did you mean 'lte'? "
         "(allowed: eq, exists, gt, gte, in, lt, lte, ne, not_in)"),
    Case("flag-typo", "when = { flags.dispute = true }", "when = { flags.disput = true }", "flags.disput",
         "holds[0].when.flags.disput",
         "unknown flag 'disput' — did you mean 'dispute'? "
         "(allowed: attorney, bankruptcy, breathing_space, cease_contact, deceased, dispute, hardship)"),
    Case("flag-typo-in-namespace-table", "when = { balance = { gte = 5000 } }",
         "when = { flags = { hardshp = true } }", "hardshp", "stages[1].actions[1].when.flags.hardshp",
         "unknown flag 'hardshp' — did you mean 'hardship'? "
         "(allowed: attorney, bankruptcy, breathing_space, cease_contact, deceased, dispute, hardship)"),
    Case("segment-reference-typo", '  segments = ["high_risk"]', '  segments = ["high_rsk"]', '"high_rsk"',
         "stages[0].actions[1].segments[0]", "unknown segment 'high_rsk' — did you mean 'high_risk'?",
         hint="segments: high_risk, standard"),
    Case("segment-condition-typo", "when = { balance = { gte = 5000 } }", 'when = { segment = "high_rsk" }',
         'segment = "high_rsk"', "stages[1].actions[1].when.segment",
         "unknown segment 'high_rsk' — did you mean 'high_risk'?"),
    Case("notice-condition-typo", "when = { credit_score = { lt = 600 } }",
         'when = { days_since_notice = { notice = "pre_legal_warnin", gte = 3 } }', 'notice = "pre_legal_warnin"',
         "segments[0].when.days_since_notice.notice",
         "unknown notice 'pre_legal_warnin' — did you mean 'pre_legal_warning'?", hint="notices: pre_legal_warning"),
    Case("offer-reference-typo", '  offer = "installment_24"', '  offer = "instalment_24"',
         'offer = "instalment_24"', "stages[0].actions[1].offer",
         "unknown offer 'instalment_24' — did you mean 'installment_24'?", hint="offers: installment_24"),
    Case("template-reference-typo", '  template = "reminder"', '  template = "remindr"', 'template = "remindr"',
         "stages[0].actions[0].template", "unknown template 'remindr' — did you mean 'reminder'?",
         hint='define it as [templates.remindr."zh-CN"]'),
    Case("notice-template-typo", 'template = "pre_legal_warning"\n\n[[segments]]',
         'template = "pre_legal_warnin"\n\n[[segments]]', 'template = "pre_legal_warnin"', "notices[0].template",
         "unknown template 'pre_legal_warnin' — did you mean 'pre_legal_warning'?"),
    Case("offer-kind-typo", 'kind = "installment"', 'kind = "instalment"', 'kind = "instalment"',
         "offers[0].kind", "'instalment' is not allowed — did you mean 'installment'?",
         hint="allowed: fee_waiver, installment, rate_reduction, refinance, settlement, token_payment"),
    Case("weekday-typo", "max_contacts_per_day = 3\n", 'max_contacts_per_day = 3\ndays_off = ["sunday"]\n',
         '"sunday"', "guardrails.days_off[0]", "'sunday' is not allowed — did you mean 'sun'?"),
    Case("holiday-subdivision-unknown", "max_contacts_per_day = 3\n",
         'max_contacts_per_day = 3\nholidays = "CN-XX"\n', 'holidays = "CN-XX"', "guardrails.holidays",
         "'XX' is not a subdivision of CN"),
    # ------------------------------------------------------------------ bad values
    Case("time-without-leading-zero", 'start = "09:00"', 'start = "8:30"', 'start = "8:30"',
         "guardrails.contact_hours.start", "'8:30' is not a time of day: write \"HH:MM\", e.g. \"08:30\""),
    Case("time-out-of-range", 'end = "21:00"', 'end = "25:00"', 'end = "25:00"', "guardrails.contact_hours.end",
         "'25:00' is not a time of day: write \"HH:MM\", e.g. \"08:30\""),
    Case("hours-end-before-start", 'contact_hours = { start = "09:00", end = "21:00" }',
         'contact_hours = { start = "20:00", end = "09:00" }', "contact_hours", "guardrails.contact_hours",
         "contact hours end (09:00) must be after start (20:00)"),
    Case("unknown-timezone", 'timezone = "Asia/Shanghai"', 'timezone = "Asia/Shanghia"', "timezone",
         "policy.timezone",
         "unknown time zone 'Asia/Shanghia' — did you mean 'Asia/Shanghai'? (use an IANA name such as Asia/Shanghai)"),
    Case("bad-currency", 'currency = "CNY"', 'currency = "cny"', "currency", "policy.currency",
         "'cny' is not an ISO 4217 code such as CNY, USD, GBP"),
    Case("bad-policy-id", 'id = "test-bank"', 'id = "1bank"', 'id = "1bank"', "policy.id",
         "'1bank' is not a valid id: start with a letter, then letters, digits, '_' or '-'"),
    Case("bad-action-id", 'id = "reminder_sms"', 'id = "reminder sms"', 'id = "reminder sms"',
         "stages[0].actions[0].id",
         "'reminder sms' is not a valid id: start with a letter, then letters, digits, '_' or '-'"),
    Case("bad-holiday-date", "max_contacts_per_day = 3\n",
         'max_contacts_per_day = 3\nextra_holidays = ["2026-10-01", "2026-13-01"]\n', '"2026-13-01"',
         "guardrails.extra_holidays[1]", "'2026-13-01' is not a date: write YYYY-MM-DD, e.g. 2026-10-01"),
    Case("as-of-without-offset", 'as_of = "2026-11-28T09:00:00+08:00"', 'as_of = "2026-11-28T09:00:00"', "as_of",
         "tests[0].as_of", "as_of needs a UTC offset, e.g. 2026-11-28T09:00:00+08:00"),
    Case("as-of-not-a-time", 'as_of = "2026-11-28T09:00:00+08:00"', 'as_of = "yesterday"', "as_of",
         "tests[0].as_of", "expected a date and time such as 2026-11-28T09:00:00+08:00, found the string 'yesterday'"),
    Case("two-cadences", "  every_days = 3\n", "  every_days = 3\n  once = true\n", "[[stages.actions]]",
         "stages[0].actions[0]",
         "choose one cadence: every_days and once were both given (every_days, at_most or once)"),
    Case("dpd-range-backwards", "dpd = { from = 1, to = 89 }", "dpd = { from = 60, to = 30 }",
         "dpd = { from = 60", "stages[0].dpd", "dpd range ends (30) before it starts (60)"),
    Case("installment-without-months", 'kind = "installment"\nmonths = 24\n', 'kind = "installment"\n',
         "[[offers]]", "offers[0]", "an installment offer needs 'months'"),
    Case("settlement-without-percentage", 'kind = "installment"\nmonths = 24\n', 'kind = "settlement"\n',
         "[[offers]]", "offers[0]", "a settlement offer needs 'settlement_pct'"),
    Case("offer-longer-than-baseline-allows", "months = 24", "months = 72", "months = 72", "offers[0].months",
         "offer 'installment_24' runs 72 months; the baseline allows at most 60"),
    Case("percentage-zero", "months = 24\n", "months = 24\nrate_reduction_pct = 0\n", "rate_reduction_pct",
         "offers[0].rate_reduction_pct", "must be more than 0.0, found 0"),
    Case("policy-kind-typo", 'version = "1"\n', 'version = "1"\nkind = "basline"\n', 'kind = "basline"',
         "policy.kind", "'basline' is not allowed — did you mean 'baseline'?"),
    # ------------------------------------------------------------------ semantic checks
    Case("duplicate-action-id", 'id = "courtesy_call"', 'id = "reminder_sms"', 'id = "reminder_sms"',
         "stages[0].actions[1].id",
         f"duplicate action id 'reminder_sms' (first defined at {first('reminder_sms')})", nth=2),
    Case("duplicate-stage-id", 'id = "pre_legal"', 'id = "early"', 'id = "early"', "stages[1].id",
         f"duplicate stage id 'early' (first defined at {first('early')})", nth=2),
    Case("duplicate-segment-id", 'id = "standard"', 'id = "high_risk"', 'id = "high_risk"', "segments[1].id",
         f"duplicate segment id 'high_risk' (first defined at {first('high_risk')})", nth=2),
    Case("duplicate-variant-id", 'id = "challenger"', 'id = "champion"', 'id = "champion"', "variants[1].id",
         f"duplicate variant id 'champion' (first defined at {first('champion')})", nth=2),
    Case("variant-weights-not-100", "weight = 20", "weight = 30", "[[variants]]", "variants",
         "variant weights add up to 110, not 100"),
    Case("prerequisite-notice-never-sent", 'template = "pre_legal_warning"\n\n[[segments]]',
         'template = "pre_legal_warning"\n\n[[notices]]\nid = "final_demand"\n\n[[segments]]',
         "requires =", "stages[0].actions[1].requires[0]",
         "prerequisite can never be met: no action sends notice 'final_demand'",
         hint='add an action with notice = "final_demand" in an earlier stage',
         also=(("  at_most = { times = 2, days = 7 }\n",
                '  at_most = { times = 2, days = 7 }\n  requires = { notice = "final_demand" }\n'),)),
    Case("prerequisite-wait-longer-than-stage", 'id = "pre_legal"\ndpd = { from = 90 }',
         'id = "pre_legal"\ndpd = { from = 90, to = 100 }', "requires =", "stages[1].actions[1].requires[0]",
         "prerequisite can never be met: notice 'pre_legal_warning' is sent at DPD 90 at the earliest, so it "
         "cannot be 30 days old before stage 'pre_legal' ends at DPD 100",
         also=(("[[offers]]", '[[stages]]\nid = "written_off"\ndpd = { from = 101 }\n\n  [[stages.actions]]\n'
                '  id = "final_letter"\n  channel = "letter"\n  once = true\n\n[[offers]]'),)),
    Case("dpd-open-end-missing", "dpd = { from = 90 }", "dpd = { from = 90, to = 365 }", "[[stages]]", "stages",
         "no stage covers DPD 366 and above: accounts past DPD 365 get no action", severity="warning",
         hint="give the last stage an open end: dpd = { from = N }"),
    Case("test-expects-unknown-action", 'action = "legal_referral"', 'action = "legal_referal"',
         'action = "legal_referal"', "tests[0].expect.suppressed[0].action",
         "unknown action 'legal_referal' — did you mean 'legal_referral'?"),
    Case("test-expects-unknown-reason", 'reason = "notice_waiting_period"', 'reason = "notice_waiting_periods"',
         "reason =", "tests[0].expect.suppressed[0].reason",
         "unknown reason 'notice_waiting_periods' — did you mean 'notice_waiting_period'?",
         hint="reasons: already_sent, cadence"),
    Case("test-expects-unknown-action-by-name", "expect.suppressed = [",
         'expect.actions = ["reminder_sm"]\nexpect.suppressed = [', '"reminder_sm"', "tests[0].expect.actions[0]",
         "unknown action 'reminder_sm' — did you mean 'reminder_sms'?"),
    Case("test-expects-unknown-stage", "expect.suppressed = [", 'expect.stage = "prelegal"\nexpect.suppressed = [',
         "expect.stage", "tests[0].expect.stage", "unknown stage 'prelegal' — did you mean 'pre_legal'?",
         hint="stages: early, none, pre_legal"),
    Case("test-expects-unknown-segment", "expect.suppressed = [",
         'expect.segment = "standrd"\nexpect.suppressed = [', "expect.segment", "tests[0].expect.segment",
         "unknown segment 'standrd' — did you mean 'standard'?"),
    Case("test-expects-unknown-hold", "expect.suppressed = [", 'expect.holds = ["dispte"]\nexpect.suppressed = [',
         '"dispte"', "tests[0].expect.holds[0]", "unknown hold 'dispte' — did you mean 'dispute'?"),
    # ------------------------------------------------------------------ warnings
    Case("dpd-gap", "dpd = { from = 1, to = 89 }", "dpd = { from = 1, to = 59 }", "dpd = { from = 90 }",
         "stages[1].dpd", "no stage covers DPD 60-89, the days before stage 'pre_legal' starts at DPD 90",
         severity="warning", hint="extend stage 'early' to dpd.to = 89, or start stage 'pre_legal' at dpd.from = 60"),
    Case("dpd-overlap", "dpd = { from = 1, to = 89 }", "dpd = { from = 1, to = 99 }", "dpd = { from = 90 }",
         "stages[1].dpd", "DPD 90+ of stage 'pre_legal' overlaps stage 'early' (1-99); the earlier stage wins",
         severity="warning"),
    Case("unreachable-segment", 'id = "standard"\n', 'id = "standard"\n\n[[segments]]\nid = "vip"\n',
         '[[segments]]\nid = "vip"', "segments[2]",
         "segment 'vip' is unreachable: segment 'standard' before it has no condition and matches everyone",
         severity="warning"),
    Case("no-catch-all-segment", '[[segments]]\nid = "standard"\n', "", "[[segments]]", "segments",
         "no catch-all segment: accounts matching no segment get segment 'none'", severity="warning",
         hint="add a last [[segments]] with only an id"),
    Case("stage-without-actions", "[[offers]]", '[[stages]]\nid = "closed"\nwhen = { balance = 0 }\n\n[[offers]]',
         '[[stages]]\nid = "closed"', "stages[2]", "stage 'closed' has no actions", severity="warning"),
    Case("template-missing-policy-locale", '[templates.reminder."zh-CN"]', '[templates.reminder."en-US"]',
         'template = "reminder"', "stages[0].actions[0].template",
         "template 'reminder' has no text for the policy locale zh-CN (has: en-US)", severity="warning"),
]


def test_minimal_policy_is_valid_and_clean() -> None:
    rep = report(MINIMAL)
    assert rep.issues == []
    assert rep.ok(strict=True)
    assert rep.policy is not None and rep.policy.id == "test-bank"


def test_case_ids_are_distinct() -> None:
    assert len({c.id for c in CASES}) == len(CASES)
    assert len({c.text for c in CASES}) == len(CASES)


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_one_change_one_issue(case: Case) -> None:
    text = case.text
    issue = only_issue(text)
    assert issue.message == case.message
    assert issue.path == case.path
    assert issue.severity == case.severity
    assert issue.location == at(text, case.where, case.nth), str(issue)
    if case.hint is not None:
        assert case.hint in (issue.hint or ""), issue.hint


# ---------------------------------------------------------------------- TOML syntax errors (explicit numbers)
SYNTAX = [
    ("unterminated-string", '[policy]\nid = "test-bank\nversion = "1"\n', (2, 6),
     "TOML syntax error: text not closed: the closing quote is missing at the end of the line"),
    ("unterminated-string-at-end-of-file", '[policy]\nid = "test-bank', (2, 6),
     "TOML syntax error: text not closed: the closing quote is missing at the end of the line"),
    ("unterminated-literal-string", "[policy]\nid = 'test-bank\n", (2, 6),
     "TOML syntax error: text not closed: the closing quote is missing at the end of the line"),
    ("duplicate-key", '[policy]\nid = "a"\nversion = "1"\nversion = "2"\n', (4, 1),
     "TOML syntax error: 'version' is set twice: each key may appear only once in a table"),
    ("duplicate-indented-key", '[[stages]]\nid = "s"\n  [[stages.actions]]\n  id = "a"\n  id = "b"\n', (5, 3),
     "TOML syntax error: 'id' is set twice: each key may appear only once in a table"),
    ("duplicate-table", '[policy]\nid = "a"\n\n[policy]\nversion = "1"\n', (4, 1),
     "TOML syntax error: the table [policy] is declared twice: each [table] may appear only once "
     "(use [[...]] for a list of tables)"),
    ("duplicate-inline-key", '[policy]\nid = "a"\n[[stages]]\nid = "s"\ndpd = { from = 1, from = 2 }\n', (5, 27),
     "TOML syntax error: 'from' is set twice in this { ... } table"),
    ("bare-word-value", '[policy]\nid = "a"\n[guardrails]\nmax_contacts_per_day = three\n', (4, 24),
     "TOML syntax error: value not understood: write text in quotes (\"sms\"), numbers as digits (30), "
     "true or false in lowercase, lists as [ ... ]"),
    ("capitalised-boolean", '[policy]\nid = "a"\n[guardrails]\npause_while_promise_active = True\n', (4, 30),
     "TOML syntax error: value not understood: write text in quotes (\"sms\"), numbers as digits (30), "
     "true or false in lowercase, lists as [ ... ]"),
    ("missing-equals", '[policy]\nid "a"\n', (2, 4),
     "TOML syntax error: expected '=' after the key: write key = value"),
    ("unclosed-list-at-end-of-file", '[policy]\nid = "a"\nextends = ["baseline:cn"\n', (3, 25),
     "TOML syntax error: list not closed: a ']' is missing"),
    ("inline-table-over-two-lines", '[policy]\nid = "a"\n[guardrails]\ncontact_hours = { start = "08:00",\n'
     '  end = "20:00" }\n', (4, 35),
     "TOML syntax error: a { ... } table must be closed with '}' on the same line (TOML allows no line break "
     "inside { ... })"),
    ("unclosed-header", '[policy\nid = "a"\n', (1, 8), "TOML syntax error: table header not closed: a ']' is missing"),
    ("dotted-key-clashes", '[policy]\nid = "a"\nid.x = 1\n', (3, 1),
     "TOML syntax error: 'id.x' clashes with a key set earlier: each key may appear only once in a table"),
    ("table-clashes-with-value", 'policy = 3\n[policy]\nid = "a"\n', (2, 1),
     "TOML syntax error: [policy] was already set earlier in the file as a value"),
    ("invalid-date", '[guardrails]\nextra_holidays = [2026-13-45]\n', (2, 19),
     "TOML syntax error: not a valid date: write 2026-11-28 (month 01-12, day 01-31)"),
    ("single-backslash", '[policy]\nid = "a"\ntitle = "C:\\policies"\n', (3, 12),
     "TOML syntax error: a backslash in text must be doubled (\\\\), or use 'single quotes'"),
    ("text-after-value", '[policy]\nid = "a" version = "1"\n', (2, 10),
     "TOML syntax error: unexpected text after the value: put each key = value on its own line (text needs quotes)"),
]


@pytest.mark.parametrize(("text", "line_col", "message"), [s[1:] for s in SYNTAX], ids=[s[0] for s in SYNTAX])
def test_toml_syntax_error(text: str, line_col: tuple[int, int], message: str) -> None:
    issue = only_issue(text)
    assert issue.location == Location(FILE, *line_col)
    assert issue.message == message
    assert (issue.path, issue.code, issue.severity) == ("", "toml_syntax", "error")


def test_syntax_error_in_the_minimal_policy_points_at_the_opening_quote() -> None:
    text = change('id = "test-bank"', 'id = "test-bank')
    issue = only_issue(text)
    assert issue.location == at(text, '"test-bank')


def test_empty_file_is_located_on_line_1() -> None:
    issue = only_issue("")
    assert issue.location == Location(FILE, 1, 1)
    assert issue.path == "policy"
    assert issue.message == "missing the [policy] table (id, version, extends, ...)"


def test_policy_written_as_list_of_tables() -> None:
    issue = only_issue('[[policy]]\nid = "a"\n')
    assert issue.location == Location(FILE, 1, 1)
    assert issue.message == "expected a table ({...}), found a list"
    assert "keys allowed in this table: applies_to, currency, description, extends, id" in (issue.hint or "")


def test_not_utf8() -> None:
    Path(FILE).write_bytes(b'[policy]\nid = "caf\xe9"\n')  # Latin-1, as an old editor saves it
    found = issues_of_written_file()
    assert [(str(i.location), i.message) for i in found] == [
        (f"{FILE}:2:10", "not UTF-8 text: byte 0xe9 cannot start or continue a character")]


def test_utf16_is_named_at_its_byte_order_mark() -> None:
    Path(FILE).write_bytes(b"\xff\xfe[policy]\n")
    found = issues_of_written_file()
    assert [(str(i.location), i.message, i.hint) for i in found] == [
        (f"{FILE}:1:1", "this is UTF-16 text, not UTF-8", "save the file as UTF-8")]


def test_byte_order_mark_from_windows_editors_is_accepted(in_tmp: Path) -> None:
    Path(FILE).write_bytes("\ufeff".encode() + MINIMAL.encode("utf-8"))
    assert issues_of_written_file() == []


def test_windows_line_endings_keep_positions() -> None:
    text = change("  every_days = 3\n", '  every_days = 3\n  temlate = "x"\n').replace("\n", "\r\n")
    issue = only_issue(text)
    assert issue.location == at(text, "temlate")


def issues_of_written_file() -> list[Issue]:
    [rep] = validate_paths([Path(FILE)])
    return rep.issues


# ---------------------------------------------------------------------- cases with more than one issue
def test_unknown_key_in_cap_also_reports_the_missing_key() -> None:
    text = change("max = 4, days = 1 }", "max = 4, day = 1 }")
    found = issues(text)
    assert [(i.path, i.message, i.location) for i in found] == [
        ("guardrails.caps[0].days", "required key 'days' is missing", at(text, '{ kinds = ["call"]')),
        ("guardrails.caps[0].day", "unknown key 'day' — did you mean 'days'?", at(text, "day = 1")),
    ]


def test_misspelt_body_of_a_template() -> None:
    text = change('body = "您的信用卡已逾期。"', 'bdy = "您的信用卡已逾期。"')
    found = issues(text)
    assert [(i.path, i.message, i.location) for i in found] == [
        ('templates.reminder.zh-CN.body', "required key 'body' is missing", at(text, '[templates.reminder."zh-CN"]')),
        ('templates.reminder.zh-CN.bdy', "unknown key 'bdy' — did you mean 'body'?", at(text, "bdy")),
    ]


def test_misspelt_notice_on_the_letter_explains_every_consequence() -> None:
    """One typo, four consequences, each said plainly at its own line."""
    text = change('  notice = "pre_legal_warning"', '  notice = "pre_legal_warnin"')
    found = issues(text)
    assert [(i.path, i.location) for i in found] == [
        ("stages[1].actions[0].notice", at(text, 'notice = "pre_legal_warnin"')),
        ("stages[1].actions[1]", at(text, "[[stages.actions]]", 4)),
        ("stages[1].actions[1]", at(text, "[[stages.actions]]", 4)),
        ("stages[1].actions[1].requires[0]", at(text, "requires =")),
    ]
    assert found[0].message == "unknown notice 'pre_legal_warnin' — did you mean 'pre_legal_warning'?"
    assert found[1].message.startswith("legal action 'legal_referral' has no prerequisite on a written notice "
                                       "('pre_legal_warning' is not sent by any letter action)")
    # without the 30-day wait, the referral could go out at DPD 90: before the baseline's 93
    assert found[2].message == ("legal action 'legal_referral' is in stage 'pre_legal' which starts at DPD 90; "
                                "legal action needs DPD of at least 93")
    assert found[3].message == "prerequisite can never be met: no action sends notice 'pre_legal_warning'"


def test_legal_notice_sent_by_email_is_not_a_written_notice() -> None:
    text = change('  channel = "letter"', '  channel = "email"')
    issue = only_issue(text)
    assert issue.path == "stages[1].actions[1]"
    assert issue.location == at(text, "[[stages.actions]]", 4)
    assert issue.message == ("legal action 'legal_referral' has no prerequisite on a written notice "
                             "('pre_legal_warning' is not sent by any letter action) "
                             "(required by baseline cn, policies/baselines/cn.toml:35:1)")
    assert issue.hint == ('add requires = { notice = "pre_legal_warning", delivered_days_ago = { gte = 30 } } '
                          'and a letter action with notice = "pre_legal_warning" in an earlier stage (this policy\'s '
                          "notices: pre_legal_warning)")


def test_later_stage_inside_an_earlier_one_is_unreachable_and_overlapping() -> None:
    text = change("[[offers]]", '[[stages]]\nid = "late"\ndpd = { from = 120 }\n\n  [[stages.actions]]\n'
                  '  id = "late_letter"\n  channel = "letter"\n  once = true\n\n[[offers]]')
    found = issues(text)
    where = at(text, "dpd = { from = 120 }")
    assert [(i.severity, i.path, i.location, i.message) for i in found] == [
        ("warning", "stages[2].dpd", where,
         "stage 'late' is unreachable: earlier stages already take every account with DPD 120+"),
        ("warning", "stages[2].dpd", where,
         "DPD 120+ of stage 'late' overlaps stage 'pre_legal' (90+); the earlier stage wins"),
    ]
