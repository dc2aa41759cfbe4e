"""`policy-engine test` keeps its promise: finding no test is a failure it names, and a test file named nearly
right (bank-test.toml, test_bank.toml, ...) is reported with the name to give it, not silently skipped."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from policy_engine.cli import app
from tests.lifecycle.test_policy_test_runner import POLICY, case


def run(*args: str | Path) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, ["test", *map(str, args)])
    assert "Traceback" not in result.stdout + result.stderr
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture
def folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "bank.toml").write_text(POLICY, encoding="utf-8")
    return tmp_path


def test_no_test_at_all_exits_4_and_says_so(folder: Path) -> None:
    code, out, err = run("bank.toml")
    assert code == 4
    assert "bank.toml: runner-bank 1 — 0 tests" in out
    assert err.splitlines() == [
        "warning: bank.toml has no tests: write them as [[tests]] in the policy or in bank_test.toml next to it",
        "error: no tests found in bank.toml (exit 4)"]
    assert run(folder)[0] == 4  # the same through a directory


@pytest.mark.parametrize("name", ["bank-test.toml", "bank.test.toml", "bank_tests.toml", "test_bank.toml",
                                  "tests-bank.toml", "bank_TEST.toml"])
def test_a_near_miss_test_file_name_is_reported_with_the_name_to_give_it(folder: Path, name: str) -> None:
    (folder / name).write_text(case("remind", 'expect.actions = ["remind_sms", "remind_call"]'), encoding="utf-8")
    code, _, err = run(folder)
    assert code == 3
    assert (f"{name}:1:1: error: this looks like the tests of bank.toml, but tests are found only in a file named "
            f"bank_test.toml (rename {name} to bank_test.toml)") in err.splitlines()
    code, _, err = run(folder / name)  # named directly, too
    assert code == 3 and f"rename {name} to bank_test.toml" in err


def test_the_right_name_runs_and_an_unrelated_file_is_still_a_policy(folder: Path) -> None:
    (folder / "bank_test.toml").write_text(case("remind", 'expect.actions = ["remind_sms", "remind_call"]'),
                                           encoding="utf-8")
    code, out, _ = run(folder)
    assert (code, out.splitlines()[-1]) == (0, "1 passed, 0 failed")
    (folder / "contest.toml").write_text(POLICY.replace("runner-bank", "contest"), encoding="utf-8")
    code, _, err = run(folder)  # 'contest' contains 'test' but names no policy's tests
    assert code == 0 and "warning: contest.toml has no tests" in err
