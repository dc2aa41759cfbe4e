"""One error exit: whatever error of the tree reaches a command, the user reads its located message(s) on
stderr and the shell sees the exit code of its class; never a traceback.

Most runs go through typer's CliRunner (what the other CLI tests use); one runs the installed console
script, the path a user takes.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from policy_engine._exceptions import (
    DeliveryError,
    ExitCode,
    InputError,
    InputUnusableError,
    Issue,
    LedgerError,
    Location,
    PermanentDeliveryError,
    PluginError,
    PluginRegistrationError,
    PolicyEngineError,
    PolicyValidationError,
    RowError,
    TemplateError,
    TransientDeliveryError,
    UsageError,
)
from policy_engine.cli import app
from policy_engine.cli.errors import ErrorExitGroup
from tests.policy.helpers import MINIMAL, console_script

ERRORS: list[tuple[PolicyEngineError, int]] = [
    (UsageError("--days must be positive"), 2),
    (InputError("accounts.jsonl: no valid row"), 5),
    (InputUnusableError("accounts.jsonl: not found"), 5),
    (RowError("accounts.jsonl", 4, "balance: 'lots' is not a number"), 5),
    (PluginError("config file 'x.toml' does not exist"), 1),
    (PluginRegistrationError("plugin 'typo' implements unknown hook"), 6),
    (DeliveryError("sms: provider said no"), 1),
    (TransientDeliveryError("sms: timed out"), 1),
    (PermanentDeliveryError("sms: invalid number"), 1),
    (TemplateError("reminder.txt:1: unknown variable account.nam"), 1),
    (LedgerError("cannot open the ledger at x://"), 1),
]


def app_raising(error: PolicyEngineError) -> typer.Typer:
    """A two-command app on the CLI's own root group whose `fail` command raises ``error``."""
    demo = typer.Typer(cls=ErrorExitGroup, add_completion=False)

    @demo.command()
    def fail() -> None:
        raise error

    @demo.command()
    def succeed() -> None:
        typer.echo("fine")

    return demo


@pytest.mark.parametrize(("error", "code"), ERRORS, ids=[type(error).__name__ for error, _ in ERRORS])
def test_every_error_of_the_tree_exits_with_its_class_code_and_one_located_line(
        error: PolicyEngineError, code: int) -> None:
    result = CliRunner().invoke(app_raising(error), ["fail"])
    assert result.exit_code == code == type(error).exit_code
    assert isinstance(result.exception, SystemExit), repr(result.exception)
    assert result.stderr == f"error: {error}\n"
    assert result.stdout == ""


def test_a_policy_error_prints_every_issue_then_names_the_policy() -> None:
    issues = [Issue(Location("bank.toml", 3, 1), "policy.id", "missing"),
              Issue(Location("bank.toml", 9, 5), "stages[0].dpd", "from is after to", hint="swap them")]
    result = CliRunner().invoke(app_raising(PolicyValidationError(issues, policy_file="bank.toml")), ["fail"])
    assert result.exit_code == 3
    assert result.stderr == ("bank.toml:3:1: error: policy.id: missing\n"
                             "bank.toml:9:5: error: stages[0].dpd: from is after to (swap them)\n"
                             "policy bank.toml is invalid\n")


def test_commands_that_succeed_are_untouched() -> None:
    result = CliRunner().invoke(app_raising(LedgerError("unused")), ["succeed"])
    assert (result.exit_code, result.stdout, result.stderr) == (0, "fine\n", "")


def test_the_exit_code_table() -> None:
    assert {code.name: code.value for code in ExitCode} == {
        "OK": 0, "RUNTIME_FAILURE": 1, "USAGE": 2, "POLICY_INVALID": 3, "TESTS_FAILED": 4,
        "INPUT_UNUSABLE": 5, "PLUGINS_BROKEN": 6, "ACTIONS_FAILED": 7}


def test_an_error_in_an_extended_file_is_reported_under_the_policy_the_user_named(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    Path("base.toml").write_text('[policy]\nid = "base\n', encoding="utf-8")
    Path("bank.toml").write_text('[policy]\nid = "bank"\nversion = "2"\nextends = ["base.toml"]\n',
                                 encoding="utf-8")
    Path("accounts.jsonl").write_text("", encoding="utf-8")
    result = CliRunner().invoke(app, ["dry-run", "--policy", "bank.toml", "--accounts", "accounts.jsonl"])
    assert result.exit_code == 3
    assert "Traceback" not in result.stdout + result.stderr
    lines = result.stderr.splitlines()
    assert any(line.startswith("base.toml:2:") and "TOML syntax error" in line for line in lines), lines
    assert lines[-1] == "policy bank.toml is invalid"


def test_unusable_input_and_bad_options_through_the_real_commands(tmp_path: Path) -> None:
    policy = tmp_path / "bank.toml"
    policy.write_text(MINIMAL, encoding="utf-8")
    missing = tmp_path / "nope.jsonl"
    unusable = CliRunner().invoke(app, ["simulate", "--policy", str(policy), "--accounts", str(missing),
                                        "--start", "2026-11-01", "--days", "2"])
    assert unusable.exit_code == 5
    assert unusable.stderr.startswith("error: ") and "nope.jsonl" in unusable.stderr
    bad_start = CliRunner().invoke(app, ["simulate", "--policy", str(policy), "--accounts", str(missing),
                                         "--start", "tomorrow", "--days", "2"])
    assert (bad_start.exit_code, bad_start.stderr) == (2, "error: --start 'tomorrow' is not a date (YYYY-MM-DD)\n")


def test_the_console_script_reports_a_broken_plugin_set_with_exit_6_and_no_traceback(tmp_path: Path) -> None:
    env = {**os.environ, "POLICY_ENGINE_PLUGINS": "voice,typo_plugin"}
    done = subprocess.run([console_script(), "plugins"], cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=120, check=False)
    assert done.returncode == 6
    assert done.stderr.startswith("error: ") and done.stderr.count("\n") == 1, done.stderr
    assert "typo_plugin" in done.stderr  # names the plugin that is missing
    assert done.stdout == ""


def test_an_output_file_that_cannot_be_written_is_a_usage_error(tmp_path: Path) -> None:
    policy = tmp_path / "bank.toml"
    policy.write_text(MINIMAL, encoding="utf-8")
    accounts = tmp_path / "accounts.jsonl"
    accounts.write_text("", encoding="utf-8")
    nowhere = tmp_path / "missing" / "plan.jsonl"
    result = CliRunner().invoke(app, ["dry-run", "--policy", str(policy), "--accounts", str(accounts),
                                      "--format", "jsonl", "--output", str(nowhere)])
    assert (result.exit_code, result.stderr) == (2, f"error: cannot write {nowhere} (No such file or directory)\n")
