"""One input row never aborts a batch: the rows the hostile review used, among 40 good ones, end to end.

Before, a row nested ~1000 deep lost 6 of 40 good accounts (RecursionError in the reader) and a history
event at year 1 in UTC lost 30 of 40 (OverflowError while deciding). Now each bad row is set aside with
its file, line and reason, and all 40 accounts are decided, on both rule backends.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from policy_engine.cli import app
from tests.hostile.runner import BASES

AS_OF = "2026-11-28T09:00:00+08:00"


def good_accounts(count: int) -> list[str]:
    rows = []
    for i in range(count):
        rows.append(json.dumps({
            "account_id": f"G{i:02d}", "region": "CN", "timezone": "Asia/Shanghai", "currency": "CNY",
            "balance": 1000 + i, "delinquent_since": f"2026-{7 + i % 5:02d}-{1 + i % 27:02d}",
            "credit_score": 500 + 5 * i, "contact": {"phone": f"+86138000000{i:02d}", "address": "上海"},
            "consent": {"sms": True, "voice": True}}, ensure_ascii=False))
    return rows


BAD_ACCOUNTS = [
    '{"account_id": "DEEP", "balance": 1, "attributes": {"x": ' + "[" * 1000 + "]" * 1000 + "}}",
    '{"account_id": "HUGE", "balance": 1e999999}',
    '{"account_id": "DIGITS", "balance": ' + "9" * 5000 + "}",
    '{"account_id": "INJECT", "balance": 1, "contact": {"email": "victim@example.com, attacker@evil.example"}}',
    '{"account_id": "' + "L" * 201 + '", "balance": 1}',
]


@pytest.mark.parametrize("backend", ["compiled", "durable"])
def test_forty_good_rows_are_decided_whatever_the_bad_rows_beside_them(
        backend: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    good = good_accounts(40)
    lines = good[:10] + BAD_ACCOUNTS[:2] + good[10:30] + BAD_ACCOUNTS[2:] + good[30:]
    (tmp_path / "accounts.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    events = [
        {"account_id": "G05", "at": "0001-01-01T00:00:00+05:00", "type": "payment", "amount": 1},
        {"account_id": "G06", "at": "2026-11-20T10:00:00+08:00", "type": "promise", "amount": 5, "due": "9999-12-31"},
        {"account_id": "G07", "at": "2026-11-20T10:00:00+08:00", "type": "payment", "amount": 10},
    ]
    (tmp_path / "history.jsonl").write_text("".join(json.dumps(e) + "\n" for e in events), encoding="utf-8")
    (tmp_path / "policy.toml").write_text((BASES / "minimal.toml").read_text(encoding="utf-8"), encoding="utf-8")
    monkeypatch.chdir(tmp_path)

    result = CliRunner().invoke(app, ["dry-run", "--policy", "policy.toml", "--accounts", "accounts.jsonl",
                                      "--history", "history.jsonl", "--as-of", AS_OF, "--format", "jsonl",
                                      "--backend", backend, "--rejects", "rejects.jsonl"])

    assert result.exit_code == 0, result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    decided = [json.loads(line)["account_id"] for line in result.stdout.splitlines()]
    assert decided == [f"G{i:02d}" for i in range(40)]
    rejects = [json.loads(line) for line in (tmp_path / "rejects.jsonl").read_text(encoding="utf-8").splitlines()]
    assert [(r["file"], r["line"], r["reason"]) for r in rejects] == [
        ("history.jsonl", 1, "at '0001-01-01T00:00:00+05:00' is outside the years 1900 to 2999"),
        ("history.jsonl", 2, "due: '9999-12-31' is outside the years 1900 to 2999"),
        ("accounts.jsonl", 11, "values nest more than 32 levels deep"),
        ("accounts.jsonl", 12, "balance: 1E+999999 is beyond 10^18 in absolute value"),
        ("accounts.jsonl", 33, "not valid JSON: an integer of more than 4300 digits"),
        ("accounts.jsonl", 34, "contact.email: 'victim@example.com, attacker@evil.example' holds more than one "
                               "address; give exactly one"),
        ("accounts.jsonl", 35, "account_id is longer than 200 characters"),
    ]
    assert rejects[2]["raw"] == BAD_ACCOUNTS[0]  # the row as it was written, to fix and feed again
    reported = [line for line in result.stderr.splitlines() if line.startswith(("history.jsonl:", "accounts.jsonl:"))]
    assert reported == [f"{r['file']}:{r['line']}: {r['reason']}" for r in rejects]
    assert result.stderr.splitlines()[-1].startswith("7 input rows rejected")
