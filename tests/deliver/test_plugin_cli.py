"""`policy-engine plugins` and `policy-engine queue`, through the real CLI app."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from policy_engine.cli import app
from policy_engine.ledger import AgentQueue, Ledger

runner = CliRunner()


def test_plugins_json_lists_builtin_channels(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("POLICY_ENGINE_PLUGINS", raising=False)
    result = runner.invoke(app, ["plugins", "--format", "json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    by_name = {p["name"]: p for p in data["plugins"]}
    assert by_name["voice"]["channels"] == ["voice"] and by_name["voice"]["version"] == "0.1.0"
    assert "policy_engine_validate_template" in by_name["voice"]["hooks"]
    assert data["channels"]["letter"]["contact_point"] == "address"


def test_plugins_text_and_allow_list(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("POLICY_ENGINE_PLUGINS", "sms")
    result = runner.invoke(app, ["plugins"])
    assert result.exit_code == 0
    assert "channel sms: text, contact phone, rules opt_out" in result.output and "email" not in result.output
    monkeypatch.setenv("POLICY_ENGINE_PLUGINS", "nosuch")
    failed = runner.invoke(app, ["plugins"])
    assert failed.exit_code == 6 and "nosuch" in failed.output  # a broken plugin set has its own exit code
    assert runner.invoke(app, ["plugins", "--format", "xml"]).exit_code == 2


def test_queue_list_claim_complete(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'l.db'}"
    with Ledger.open(url) as ledger:
        AgentQueue(ledger).create(idempotency_key="k1", account_id="A1", action="courtesy_call",
                                  channel="agent", message="Explain the credit impact")
    listed = runner.invoke(app, ["queue", "list", "--ledger", url])
    assert listed.exit_code == 0 and "#1 open" in listed.output and "1 task" in listed.output
    claimed = runner.invoke(app, ["queue", "claim", "--agent", "alice", "--ledger", url, "--format", "json"])
    assert claimed.exit_code == 0 and json.loads(claimed.output)["claimed_by"] == "alice"
    assert runner.invoke(app, ["queue", "claim", "--agent", "bob", "--ledger", url]).exit_code == 1
    wrong = runner.invoke(app, ["queue", "complete", "1", "--agent", "bob", "--outcome", "conversation",
                                "--ledger", url])
    assert wrong.exit_code == 1 and "alice" in wrong.output
    done = runner.invoke(app, ["queue", "complete", "1", "--agent", "alice", "--outcome", "conversation",
                               "--note", "plan agreed", "--ledger", url])
    assert done.exit_code == 0 and "done by alice -> conversation" in done.output
    with Ledger.open(url) as ledger:
        (event,) = list(ledger.iter_history("A1"))
    assert event["outcome"] == "conversation"
    bad = runner.invoke(app, ["queue", "complete", "1", "--agent", "alice", "--outcome", "happy", "--ledger", url])
    assert bad.exit_code == 2
