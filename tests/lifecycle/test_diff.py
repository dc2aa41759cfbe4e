"""`policy-engine diff` and :func:`policy_engine.lifecycle.diff.diff_policies`: exact counts for known changes, over one
instant and over a simulated span; legal referrals and offers; champion/challenger variants."""

from __future__ import annotations

import json
from collections import Counter
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from policy_engine.data.history import HistoryIndex
from policy_engine.data.records import Account
from policy_engine.decide.engine import Engine, variant_for
from policy_engine.lifecycle.diff import diff_policies
from policy_engine.policy.loader import load_policy

if TYPE_CHECKING:
    from tests.lifecycle.conftest import Workspace

AS_OF = "2026-03-01T09:00:00+08:00"  # March 2026: no CN public holiday
HEAD = """
[policy]
id = "{id}"
version = "1"
timezone = "Asia/Shanghai"
locale = "zh-CN"
extends = ["baseline:cn"]
"""
SMS = HEAD + """
[[stages]]
id = "early"
dpd = { from = 1, to = 59 }
  [[stages.actions]]
  id = "sms"
  channel = "sms"
  template = "t"
  every_days = {every}
"""
LEGAL = HEAD + """
[[notices]]
id = "pre_legal_warning"

[[offers]]
id = "installment_24"
kind = "installment"
months = 24
when = { balance = { gte = 3000 } }

[[stages]]
id = "pre_legal"
dpd = { from = 90 }
  [[stages.actions]]
  id = "agent_offer"
  channel = "agent"
  template = "t"
  offer = "installment_24"
  every_days = 7
  [[stages.actions]]
  id = "warning"
  channel = "letter"
  template = "t"
  notice = "pre_legal_warning"
  once = true
{legal}
"""
REFERRAL = """
  [[stages.actions]]
  id = "legal_referral"
  channel = "legal"
  requires = { notice = "pre_legal_warning", delivered_days_ago = { gte = 30 } }
  once = true
"""
VARIANTS = HEAD + """
[[variants]]
id = "champion"
weight = 50
[[variants]]
id = "challenger"
weight = 50

[[stages]]
id = "early"
dpd = { from = 1, to = 59 }
  [[stages.actions]]
  id = "sms_a"
  channel = "sms"
  template = "t"
  every_days = 3
  variants = ["champion"]
  [[stages.actions]]
  id = "sms_b"
  channel = "sms"
  template = "t"
  every_days = 6
  variants = ["challenger"]
"""


def fill(template: str, **values: object) -> str:
    for key, value in values.items():
        template = template.replace("{" + key + "}", str(value))
    return template


def acct(account_id: str, **fields: Any) -> dict[str, Any]:
    data: dict[str, Any] = {"account_id": account_id, "balance": 5000, "delinquent_since": "2026-02-24",
                            "contact": {"phone": "+8613800000000", "address": "Shanghai"}}
    data.update(fields)
    return data


def sms_policies(lc: Workspace) -> tuple[Path, Path]:
    return (lc.policy("base.toml", fill(SMS, id="base", every=3)),
            lc.policy("candidate.toml", fill(SMS, id="candidate", every=6)))


def test_span_every_3_to_every_6_days_halves_the_sms(lc: Workspace) -> None:
    base, candidate = sms_policies(lc)
    accounts = lc.jsonl("accounts.jsonl", [acct("A1"), acct("A2"), acct("A3", delinquent_since=None)])
    out = lc.cli("diff", "--base", base, "--candidate", candidate, "--accounts", accounts,
                 "--as-of", AS_OF, "--days", "30", "--format", "json")
    d = json.loads(out)
    assert d["days"] == 30 and d["accounts"] == 3 and d["accounts_changed"] == 2
    assert d["totals"]["base"]["contacts"] == {"sms": 20}  # days 0, 3, ..., 27 for two accounts
    assert d["totals"]["candidate"]["contacts"] == {"sms": 10}  # days 0, 6, ..., 24
    assert d["contacts_removed"] == {"sms": 10} and d["contacts_added"] == {}
    assert d["new_suppressions"] == {"cadence": 10} and d["lifted_suppressions"] == {}
    assert d["totals"]["base"]["suppressed"] == {"cadence": 40}
    assert d["totals"]["base"]["contacts_per_week"] == {"1": {"sms": 6}, "2": {"sms": 4}, "3": {"sms": 4},
                                                        "4": {"sms": 6}}
    assert d["totals"]["candidate"]["contacts_per_week"] == {"1": {"sms": 4}, "2": {"sms": 2},
                                                             "3": {"sms": 2}, "4": {"sms": 2}}
    assert d["changes"][0] == {"account_id": "A1", "base_stage": "early", "candidate_stage": "early",
                               "added": {}, "removed": {"sms@sms": 5}}
    again = lc.cli("diff", "--base", base, "--candidate", candidate, "--accounts", accounts,
                   "--as-of", AS_OF, "--days", "30", "--format", "json")
    assert again == out
    table = lc.cli("diff", "--base", base, "--candidate", candidate, "--accounts", accounts,
                   "--as-of", AS_OF, "--days", "30")
    assert "contacts: sms" in table and "Contacts per channel per week" in table and "sms@sms×5" in table


def test_one_instant_diff_counts_exactly(lc: Workspace) -> None:
    base, candidate = sms_policies(lc)
    accounts = lc.jsonl("accounts.jsonl", [acct("A1"), acct("A2"), acct("A3")])
    history = lc.jsonl("history.jsonl", [  # last sms 4 days ago (A1), 7 days ago (A2), today (A3)
        {"account_id": "A1", "type": "contact", "channel": "sms", "outcome": "delivered", "action": "sms",
         "at": "2026-02-25T09:00:00+08:00"},
        {"account_id": "A2", "type": "contact", "channel": "sms", "outcome": "delivered", "action": "sms",
         "at": "2026-02-22T09:00:00+08:00"},
        {"account_id": "A3", "type": "contact", "channel": "sms", "outcome": "delivered", "action": "sms",
         "at": "2026-03-01T08:30:00+08:00"}])
    d = json.loads(lc.cli("diff", "--base", base, "--candidate", candidate, "--accounts", accounts,
                          "--history", history, "--as-of", AS_OF, "--format", "json"))
    assert d["days"] is None and d["accounts_changed"] == 1
    assert [c["account_id"] for c in d["changes"]] == ["A1"]
    assert d["totals"]["base"]["contacts"] == {"sms": 2}
    assert d["totals"]["candidate"]["contacts"] == {"sms": 1}
    assert d["contacts_removed"] == {"sms": 1} and d["new_suppressions"] == {"cadence": 1}
    assert d["totals"]["candidate"]["suppressed"] == {"already_sent": 1, "cadence": 1}
    assert "contacts_per_week" not in d["totals"]["base"]
    same = json.loads(lc.cli("diff", "--base", base, "--candidate", base, "--accounts", accounts,
                             "--history", history, "--as-of", AS_OF, "--format", "json"))
    assert same["accounts_changed"] == 0 and same["changes"] == [] and same["new_suppressions"] == {}


def test_legal_referrals_and_offers_over_a_span(lc: Workspace) -> None:
    base = lc.policy("base.toml", fill(LEGAL, id="nolegal", legal=""))
    candidate = lc.policy("candidate.toml", fill(LEGAL, id="legal", legal=REFERRAL))
    accounts = [Account.model_validate(acct(f"L{i}", delinquent_since="2025-11-01")) for i in range(3)]
    served = [{"account_id": f"L{i}", "type": "contact", "channel": "letter", "outcome": "delivered",
               "action": "warning", "notice": "pre_legal_warning", "at": "2026-01-15T09:00:00+08:00"}
              for i in range(2)]  # L2 was never warned: no referral
    index = HistoryIndex.load([lc.jsonl("history.jsonl", served)])
    result = diff_policies(Engine(load_policy(base)), Engine(load_policy(candidate)), accounts, index,
                           datetime.fromisoformat(AS_OF), days=14).to_dict()
    assert result["totals"]["base"]["legal_referrals"] == 0
    assert result["totals"]["candidate"]["legal_referrals"] == 2  # once each, for L0 and L1
    # the agent calls on days 0 and 7; L2 gets its warning letter on day 0
    assert result["totals"]["candidate"]["contacts"] == {"agent": 6, "legal": 2, "letter": 1}
    offers = {"installment_24": 6}
    assert result["totals"]["base"]["offers"] == result["totals"]["candidate"]["offers"] == offers
    assert result["contacts_added"] == {"legal": 2} and result["accounts_changed"] == 2
    suppressed = result["totals"]["candidate"]["suppressed"]
    assert suppressed["missing_notice"] == 1 and suppressed["notice_waiting_period"] == 13  # L2


def test_variants_split_deterministically_and_are_recorded(lc: Workspace) -> None:
    base, _ = sms_policies(lc)
    candidate = lc.policy("variants.toml", fill(VARIANTS, id="cc"))
    rows = [acct(f"V{i:02d}") for i in range(20)]
    accounts = lc.jsonl("accounts.jsonl", rows)
    loaded = load_policy(candidate)
    expected = {r["account_id"]: variant_for(loaded.policy, r["account_id"]) for r in rows}
    split = Counter(expected.values())
    assert set(split) == {"champion", "challenger"}  # 20 accounts land in both halves

    decisions = [json.loads(line) for line in lc.cli(
        "dry-run", "--policy", candidate, "--accounts", accounts, "--as-of", AS_OF, "--format", "jsonl"
    ).splitlines()]
    assert {d["account_id"]: d["variant"] for d in decisions} == expected
    for d in decisions:
        assert [a["action"] for a in d["actions"]] == ["sms_a" if d["variant"] == "champion" else "sms_b"]

    out = lc.cli("diff", "--base", base, "--candidate", candidate, "--accounts", accounts, "--as-of", AS_OF,
                 "--days", "30", "--format", "json")
    variants = json.loads(out)["variants"]
    assert set(variants) == {"candidate"}  # the base declares no variants
    champion, challenger = variants["candidate"]["champion"], variants["candidate"]["challenger"]
    assert champion["accounts"] == split["champion"] and challenger["accounts"] == split["challenger"]
    assert champion["contacts"] == {"sms": 10 * split["champion"]}
    assert challenger["contacts"] == {"sms": 5 * split["challenger"]}
    assert champion["suppressed"] == {"cadence": 20 * split["champion"]}
    assert lc.cli("diff", "--base", base, "--candidate", candidate, "--accounts", accounts, "--as-of", AS_OF,
                  "--days", "30", "--format", "json") == out
    table = lc.cli("diff", "--base", base, "--candidate", candidate, "--accounts", accounts, "--as-of", AS_OF)
    assert "Variants of the candidate policy" in table and "challenger" in table


def test_diff_usage_errors(lc: Workspace) -> None:
    base, candidate = sms_policies(lc)
    accounts = lc.jsonl("accounts.jsonl", [acct("A1")])
    lc.cli("diff", "--base", base, "--candidate", candidate, "--accounts", accounts, "--format", "xml",
           code=2)
    bad = lc.policy("bad.toml", "[policy]\nid = 3\n")
    lc.cli("diff", "--base", base, "--candidate", bad, "--accounts", accounts, code=3)
    lc.cli("diff", "--base", base, "--candidate", candidate, "--accounts", lc.root / "no.jsonl", code=5)
