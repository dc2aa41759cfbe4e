"""The choice options (--format, --backend): the values a user may give, what --help shows, and the usage
error (exit 2) that names the option and what it accepts."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from policy_engine.cli import app
from policy_engine.cli.options import DEFAULT_BACKEND_CHOICE, Backend, DecisionFormat
from policy_engine.decide.engine import Engine
from policy_engine.decide.rules import BACKENDS, DEFAULT_BACKEND
from policy_engine.lifecycle.output import FORMATS

ROOT = Path(__file__).resolve().parents[2]


def test_the_choices_are_the_library_s_own() -> None:
    assert tuple(Backend) == BACKENDS and DEFAULT_BACKEND_CHOICE == DEFAULT_BACKEND
    assert tuple(DecisionFormat) == FORMATS


@pytest.mark.parametrize(("command", "message"), [
    (["validate", "--format", "xml", "policy.toml"], "--format must be text or json, not 'xml'"),
    (["test", "--format", "yaml", "policies"], "--format must be text or json, not 'yaml'"),
    (["dry-run", "-p", "p.toml", "-a", "a.jsonl", "--format", "xml"],
     "--format must be one of text, json, jsonl, csv, not 'xml'"),
    (["dry-run", "-p", "p.toml", "-a", "a.jsonl", "--backend", "drools"],
     "--backend must be one of compiled, durable, columnar, spark, not 'drools'"),
    (["explain", "-p", "p.toml", "-a", "a.jsonl", "--account", "A1", "--backend", "Durable"],
     "--backend must be one of compiled, durable, columnar, spark, not 'Durable'"),
    (["simulate", "-p", "p.toml", "-a", "a.jsonl", "--start", "2026-11-01", "--days", "1", "-f", "csv"],
     "--format must be text or jsonl, not 'csv'"),
    (["diff", "--base", "a.toml", "--candidate", "b.toml", "-a", "a.jsonl", "--format", "jsonl"],
     "--format must be text or json, not 'jsonl'"),
    (["run", "-p", "p.toml", "-a", "a.jsonl", "--format", "csv"], "--format must be text or json, not 'csv'"),
    (["queue", "list", "--format", "TEXT"], "--format must be text or json, not 'TEXT'"),
    (["plugins", "--format", "xml"], "--format must be text or json, not 'xml'"),
], ids=lambda value: " ".join(value[:2]) if isinstance(value, list) else "")
def test_a_value_outside_the_choices_is_a_usage_error_naming_what_is_accepted(command: list[str],
                                                                              message: str) -> None:
    result = CliRunner().invoke(app, command)
    assert (result.exit_code, result.stdout, result.stderr) == (2, "", f"error: {message}\n")


def test_help_lists_the_choices_and_the_defaults() -> None:
    shown = CliRunner().invoke(app, ["dry-run", "--help"], terminal_width=200).stdout
    assert "[text|json|jsonl|csv]" in shown and "compiled, durable," in shown and "columnar (a relational" in shown
    assert "[default: text]" in shown and "[default: columnar]" in shown
    assert "[text|json]" in CliRunner().invoke(app, ["validate", "--help"], terminal_width=200).stdout


def _cn_accounts(tmp_path: Path) -> Path:
    """The first three accounts of the example portfolio (one zone: quick under every backend)."""
    lines = (ROOT / "examples/portfolio/accounts.jsonl").read_text(encoding="utf-8").splitlines(keepends=True)
    path = tmp_path / "accounts.jsonl"
    path.write_text("".join(lines[:3]), encoding="utf-8")
    return path


@pytest.mark.parametrize(("command", "code", "backend"), [
    (["dry-run", "--format", "jsonl"], 0, "columnar"),
    (["simulate", "--start", "2026-11-28", "--days", "1"], 0, "columnar"),
    (["report", "--output", "{tmp}/report.html"], 0, "columnar"),
    (["diff", "--base", "{policy}", "--candidate", "{policy}"], 0, "columnar"),
    (["run", "--ledger", "sqlite:///{tmp}/ledger.db"], 2, "columnar"),  # stops after deciding: no channel settings
    (["explain", "--account", "CN-0001"], 0, "compiled"),
    (["test", "{policy}"], 0, "compiled"),
], ids=lambda value: value[0] if isinstance(value, list) else None)
def test_the_batch_commands_decide_with_columnar_unless_told_and_the_per_account_ones_with_compiled(
        command: list[str], code: int, backend: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    built: list[str] = []
    build = Engine.__init__

    def spy(engine: Engine, loaded: Any, backend: str = DEFAULT_BACKEND) -> None:
        built.append(backend)
        build(engine, loaded, backend)

    monkeypatch.setattr(Engine, "__init__", spy)
    monkeypatch.chdir(tmp_path)  # no policy-engine.toml of the repository's for run to find
    policy = str(ROOT / "policies/examples/cn-card-issuer.toml")
    inputs = [] if command[0] in ("test", "diff") else ["--policy", policy]
    if command[0] != "test":
        inputs += ["--accounts", str(_cn_accounts(tmp_path))]
    if command[0] in ("dry-run", "report", "diff", "run", "explain"):
        inputs += ["--as-of", "2026-11-28T09:00:00+08:00"]
    args = [part.format(tmp=tmp_path, policy=policy) for part in command] + inputs
    result = CliRunner().invoke(app, args)
    assert result.exit_code == code, result.stdout + result.stderr
    assert built and set(built) == {backend}
    help_text = CliRunner().invoke(app, [command[0], "--help"]).stdout
    shown = " ".join(re.sub("[│╭╮╰╯─]", " ", help_text).split())  # the words, however the box wraps them
    assert f"The default here is {backend}" in shown and f"[default: {backend}]" in shown
