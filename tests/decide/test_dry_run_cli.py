"""`policy-engine dry-run` and `explain` as a user runs them."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from policy_engine.cli import app
from tests.decide.conftest import TEMPLATES

POLICY = """
[policy]
id = "cli-bank"
version = "1"
timezone = "Asia/Shanghai"
locale = "zh-CN"
extends = ["baseline:cn"]

[[stages]]
id = "early"
dpd = { from = 1, to = 89 }
  [[stages.actions]]
  id = "sms"
  channel = "sms"
  template = "t"
  [[stages.actions]]
  id = "call"
  channel = "voice"
  template = "t"
""" + TEMPLATES

ACCOUNTS = [
    {"account_id": "A1", "balance": 1200, "delinquent_since": "2026-11-01",
     "contact": {"phone": "+8613812345678", "email": "li.wei@example.cn"}, "consent": {"sms": True}},
    {"account_id": "A2", "balance": 900, "delinquent_since": "2026-11-10", "contact": {}},
    {"account_id": "A3", "balance": 300, "delinquent_since": None},
]
AS_OF = "2026-11-24T07:30:00+08:00"


@pytest.fixture
def files(tmp_path: Path) -> dict[str, Path]:
    policy = tmp_path / "bank.toml"
    policy.write_text(POLICY, encoding="utf-8")
    accounts = tmp_path / "accounts.jsonl"
    accounts.write_text("".join(json.dumps(a) + "\n" for a in ACCOUNTS), encoding="utf-8")
    history = tmp_path / "history.jsonl"
    history.write_text(json.dumps({"account_id": "A1", "type": "contact", "channel": "voice",
                                   "outcome": "conversation", "at": "2026-11-20T10:00:00+08:00"}) + "\n")
    return {"policy": policy, "accounts": accounts, "history": history, "dir": tmp_path}


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, list(args))
    assert "Traceback" not in result.stdout + result.stderr
    return result.exit_code, result.stdout, result.stderr


def base(files: dict[str, Path], *extra: str) -> list[str]:
    return ["dry-run", "--policy", str(files["policy"]), "--accounts", str(files["accounts"]),
            "--history", str(files["history"]), "--as-of", AS_OF, *extra]


def test_jsonl_is_the_contract_decision_shape(files: dict[str, Path]) -> None:
    code, out, _ = run(*base(files, "--format", "jsonl"))
    assert code == 0
    decisions = [json.loads(line) for line in out.splitlines()]
    assert [d["account_id"] for d in decisions] == ["A1", "A2", "A3"]
    a1 = decisions[0]
    assert set(a1) >= {"account_id", "as_of", "policy", "dpd", "segment", "stage", "holds", "actions", "suppressed"}
    assert a1["actions"][0]["send_at"] == "2026-11-24T08:00:00+08:00"
    assert {s["reason"] for s in decisions[1]["suppressed"]} == {"no_contact_point"}
    assert decisions[2]["stage"] is None and decisions[2]["dpd"] == 0


def test_json_and_output_file(files: dict[str, Path]) -> None:
    out_file = files["dir"] / "plan.json"
    code, out, _ = run(*base(files, "--format", "json", "--output", str(out_file), "--explain"))
    assert code == 0 and out == ""
    data = json.loads(out_file.read_text(encoding="utf-8"))
    assert len(data) == 3 and "trace" in data[0]


def test_csv_has_a_row_per_action_and_suppression(files: dict[str, Path]) -> None:
    code, out, _ = run(*base(files, "--format", "csv"))
    rows = list(csv.DictReader(io.StringIO(out)))
    assert code == 0
    assert [(r["account_id"], r["kind"], r["action"]) for r in rows] == [
        ("A1", "action", "call"), ("A1", "action", "sms"), ("A2", "suppressed", "sms"),
        ("A2", "suppressed", "call"), ("A3", "none", "")]


def test_table_masks_phone_numbers_and_summarises(files: dict[str, Path]) -> None:
    code, out, _ = run(*base(files))
    assert code == 0
    assert "+8613812345678" not in out and "5678" in out
    assert "accounts per stage" in out and "suppressions per reason" in out and "3 accounts evaluated" in out


def test_output_is_byte_identical_across_runs_and_backends(files: dict[str, Path]) -> None:
    first = run(*base(files, "--format", "jsonl", "--explain"))[1]
    assert first == run(*base(files, "--format", "jsonl", "--explain"))[1]
    assert first == run(*base(files, "--format", "jsonl", "--explain", "--backend", "durable"))[1]


def test_bad_rows_are_reported_set_aside_and_the_batch_goes_on(files: dict[str, Path]) -> None:
    with files["accounts"].open("a", encoding="utf-8") as f:
        f.write('{"account_id": "A4", "balance": "lots"}\n{not json\n')
        f.write(json.dumps({"account_id": "A5", "balance": 10, "delinquent_since": "2026-11-01"}) + "\n")
    rejects = files["dir"] / "rejects.jsonl"
    code, out, err = run(*base(files, "--format", "jsonl", "--rejects", str(rejects)))
    assert code == 0
    assert [json.loads(line)["account_id"] for line in out.splitlines()] == ["A1", "A2", "A3", "A5"]
    assert "accounts.jsonl:4:" in err and "accounts.jsonl:5:" in err
    assert [json.loads(line)["line"] for line in rejects.read_text().splitlines()] == [4, 5]
    code, _, _ = run(*base(files, "--format", "jsonl", "--strict-input"))
    assert code == 5


def test_missing_accounts_file_exits_5(files: dict[str, Path]) -> None:
    code, _, err = run("dry-run", "--policy", str(files["policy"]), "--accounts", "nope.jsonl", "--as-of", AS_OF)
    assert code == 5 and "nope.jsonl" in err


def test_invalid_policy_exits_3_with_location(files: dict[str, Path]) -> None:
    files["policy"].write_text(POLICY.replace('channel = "sms"', 'channel = "smss"'), encoding="utf-8")
    code, _, err = run(*base(files))
    assert code == 3
    assert "bank.toml:14:3: error: stages[0].actions[0].channel: unknown channel 'smss' — did you mean 'sms'?" in err


def test_usage_errors_exit_2(files: dict[str, Path]) -> None:
    assert run(*base(files, "--format", "xml"))[0] == 2
    assert run(*base(files, "--backend", "drools"))[0] == 2
    code, _, err = run("dry-run", "--policy", str(files["policy"]), "--accounts", str(files["accounts"]),
                       "--as-of", "yesterday")
    assert code == 2 and "--as-of 'yesterday'" in err


def test_explain_prints_a_readable_tree(files: dict[str, Path]) -> None:
    code, out, _ = run("explain", "--policy", str(files["policy"]), "--accounts", str(files["accounts"]),
                       "--history", str(files["history"]), "--account", "A2", "--as-of", AS_OF)
    assert code == 0
    assert "account A2" in out and "DPD 14 in 1-89" in out
    assert "no_contact_point" in out and "no phone on file for sms" in out
    assert not out.lstrip().startswith("{")


def test_explain_unknown_account(files: dict[str, Path]) -> None:
    code, _, err = run("explain", "--policy", str(files["policy"]), "--accounts", str(files["accounts"]),
                       "--account", "ZZZ", "--as-of", AS_OF)
    assert code == 5 and "ZZZ" in err


def test_version() -> None:
    from policy_engine import __version__

    assert run("--version") == (0, f"policy-engine {__version__}\n", "")


def test_output_does_not_depend_on_the_working_directory(files: dict[str, Path], tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    files["policy"].write_text(POLICY.replace('extends = ["baseline:cn"]\n',
                                              'extends = ["baseline:cn"]\n\n[guardrails]\nmax_contacts_per_day = 1\n'),
                               encoding="utf-8")
    args = base(files, "--format", "jsonl", "--explain")
    monkeypatch.chdir(files["dir"])
    here = run(*args)[1]
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    assert run(*args)[1] == here
    assert '"source": "policy cli-bank, bank.toml:10:1"' in here  # relative to the policy, not to the cwd


def test_explain_says_when_an_account_is_outside_the_policy_scope(files: dict[str, Path]) -> None:
    files["policy"].write_text(POLICY.replace('extends = ["baseline:cn"]\n',
                                              'extends = ["baseline:cn"]\napplies_to = { region = "CN" }\n'),
                               encoding="utf-8")
    code, out, _ = run("explain", "--policy", str(files["policy"]), "--accounts", str(files["accounts"]),
                       "--account", "A1", "--as-of", AS_OF)
    assert code == 0
    assert "region == 'CN'  (saw None)" in out
    assert "outside the policy's scope (policy.applies_to): nothing to do" in out
