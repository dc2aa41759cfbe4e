"""`explain` answers the question first: what goes out today, what does not and why, the day each stopped
action is next allowed (cadence and caps too), which kinds of channel the stage has no action for; then the
trace. `--format json` gives the same."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from policy_engine.cli import app
from tests.decide.conftest import TEMPLATES

POLICY = """
[policy]
id = "answer-bank"
version = "3"
timezone = "Asia/Shanghai"
locale = "zh-CN"
extends = ["baseline:cn"]

[guardrails]
[[guardrails.caps]]
id = "one_call_a_week"
channels = ["voice"]
max = 1
days = 7

[[segments]]
id = "vip"
when = { credit_score = { gte = 800 } }
[[segments]]
id = "standard"

[[notices]]
id = "arrears_notice"

[[stages]]
id = "validation"
dpd = { from = 1, to = 29 }
  [[stages.actions]]
  id = "arrears_letter"
  channel = "letter"
  template = "t"
  notice = "arrears_notice"
  once = true

[[stages]]
id = "contact"
dpd = { from = 30 }
  [[stages.actions]]
  id = "reminder_sms"
  channel = "sms"
  template = "t"
  every_days = 3
  [[stages.actions]]
  id = "call"
  channel = "voice"
  template = "t"
  [[stages.actions]]
  id = "vip_email"
  channel = "email"
  template = "t"
  segments = ["vip"]
""" + TEMPLATES
ACCOUNTS = [
    {"account_id": "E1", "balance": 1200, "delinquent_since": "2026-11-10", "contact": {"address": "Shanghai"}},
    {"account_id": "E2", "balance": 5000, "delinquent_since": "2026-10-01", "credit_score": 600,
     "contact": {"phone": "+8613812345678", "email": "e2@example.cn"}, "consent": {"sms": True, "voice": True}},
]
HISTORY = [
    {"account_id": "E2", "type": "contact", "channel": "sms", "action": "reminder_sms", "outcome": "delivered",
     "at": "2026-11-23T10:00:00+08:00"},
    {"account_id": "E2", "type": "contact", "channel": "voice", "action": "call", "outcome": "no_answer",
     "at": "2026-11-20T10:00:00+08:00"},
]
AS_OF = "2026-11-24T09:00:00+08:00"


@pytest.fixture
def files(tmp_path: Path) -> dict[str, Path]:
    policy = tmp_path / "bank.toml"
    policy.write_text(POLICY, encoding="utf-8")
    accounts = tmp_path / "accounts.jsonl"
    accounts.write_text("".join(json.dumps(row) + "\n" for row in ACCOUNTS), encoding="utf-8")
    history = tmp_path / "history.jsonl"
    history.write_text("".join(json.dumps(row) + "\n" for row in HISTORY), encoding="utf-8")
    return {"policy": policy, "accounts": accounts, "history": history}


def explain(files: dict[str, Path], account: str, *extra: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, ["explain", "-p", str(files["policy"]), "-a", str(files["accounts"]),
                                      "--history", str(files["history"]), "--as-of", AS_OF, "--account", account,
                                      *extra], env={"COLUMNS": "200"})
    assert "Traceback" not in result.stdout + result.stderr
    return result.exit_code, result.stdout


def test_the_answer_comes_before_the_trace(files: dict[str, Path]) -> None:
    code, out = explain(files, "E1")
    lines = out.splitlines()
    assert code == 0
    assert lines[0] == "account E1: DPD 14, segment standard, stage validation"
    assert lines[1] == "  sends today: arrears_letter (letter) at 09:00"
    assert "  no call: stage 'validation' has no call action (the policy has call actions in stage 'contact')" \
        in lines
    assert "  no text: stage 'validation' has no text action (the policy has text actions in stage 'contact')" \
        in lines
    tree = lines.index(f"account E1 at {AS_OF} — DPD 14, policy answer-bank 3")
    assert tree > lines.index("  sends today: arrears_letter (letter) at 09:00")
    assert "├── scope" in out or "├── segment" in out


def test_next_allowed_dates_for_cadence_and_caps(files: dict[str, Path]) -> None:
    code, out = explain(files, "E2")
    assert code == 0
    sms_line = next(line for line in out.splitlines() if line.startswith("  no reminder_sms (sms): cadence: "))
    assert "last done 2026-11-23" in sms_line and "runs every 3 days" in sms_line
    assert sms_line.endswith("; next allowed on 2026-11-26")
    cap_line = next(line for line in out.splitlines() if line.startswith("  no call (voice): frequency_cap"))
    assert cap_line.endswith("next allowed on 2026-11-27")  # the call of 11-20 leaves the 7-day window
    assert "  no vip_email (email): only for segment vip; this account is 'standard'" in out.splitlines()


def test_json_gives_the_answer_and_the_decision_with_its_trace(files: dict[str, Path]) -> None:
    code, out = explain(files, "E2", "--format", "json")
    data = json.loads(out)
    assert code == 0
    assert list(data)[:4] == ["account_id", "as_of", "policy", "summary"]
    assert data["summary"][0] == "account E2: DPD 54, segment standard, stage contact"
    assert data["sends"] == []
    stopped = {item["action"]: item for item in data["not_sent"]}
    assert stopped["reminder_sms"]["reason"] == "cadence" and stopped["reminder_sms"]["next_allowed"] == "2026-11-26"
    assert stopped["call"]["reason"] == "frequency_cap" and stopped["call"]["next_allowed"] == "2026-11-27"
    assert data["not_applicable"] == [{"action": "vip_email", "channel": "email",
                                       "why": "only for segment vip; this account is 'standard'"}]
    assert data["decision"]["account_id"] == "E2" and data["decision"]["trace"]
    dry = CliRunner().invoke(app, ["dry-run", "-p", str(files["policy"]), "-a", str(files["accounts"]),
                                   "--history", str(files["history"]), "--as-of", AS_OF, "-f", "jsonl", "--explain"])
    assert json.loads(dry.stdout.splitlines()[1]) == data["decision"]  # the same decision as dry-run's


def test_an_action_that_runs_once_is_not_searched_for(files: dict[str, Path]) -> None:
    with files["history"].open("a", encoding="utf-8") as stream:
        stream.write(json.dumps({"account_id": "E1", "type": "contact", "channel": "letter",
                                 "action": "arrears_letter", "notice": "arrears_notice", "outcome": "delivered",
                                 "at": "2026-11-20T10:00:00+08:00"}) + "\n")
    data = json.loads(explain(files, "E1", "-f", "json")[1])
    [letter] = data["not_sent"]
    assert (letter["reason"], letter["next_allowed"], letter["lifts_on"]) == ("already_sent", None, None)
    assert data["summary"][1] == "sends nothing today"
