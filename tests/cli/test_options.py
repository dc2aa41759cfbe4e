"""The choice options (--format, --backend): the values a user may give, what --help shows, and the usage
error (exit 2) that names the option and what it accepts."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from policy_engine.cli import app
from policy_engine.cli.options import DEFAULT_BACKEND_CHOICE, Backend, DecisionFormat
from policy_engine.decide.rules import BACKENDS, DEFAULT_BACKEND
from policy_engine.lifecycle.output import FORMATS


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
    assert "[default: text]" in shown and "[default: compiled]" in shown
    assert "[text|json]" in CliRunner().invoke(app, ["validate", "--help"], terminal_width=200).stdout
