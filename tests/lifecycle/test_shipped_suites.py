"""Every shipped example policy ships with a passing suite that covers at least 90% of its rules.

Parametrized over the policies present in policies/examples/ when the tests are collected (an empty
directory gives an empty, skipped parametrization). CI runs the same check as
``policy-engine test policies/examples --threshold 90``.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from policy_engine.cli import app
from policy_engine.lifecycle.suite import TEST_SUFFIX, failure_lines, run_suite

EXAMPLES = Path(__file__).resolve().parents[2] / "policies" / "examples"
MIN_COVERAGE = 90
POLICIES = sorted(p for p in EXAMPLES.glob("*.toml") if not p.name.endswith(TEST_SUFFIX)) if EXAMPLES.is_dir() else []


@pytest.mark.parametrize("policy", POLICIES, ids=[p.stem for p in POLICIES])
def test_shipped_suite_passes_and_covers_the_policy(policy: Path) -> None:
    suite = run_suite(policy)  # raises (with located issues) if the policy or its test data is invalid
    assert suite.results, f"{policy.name} ships without tests"
    failures = [f"FAIL {r.case.name} ({r.case.location})\n  " + "\n  ".join(failure_lines(r))
                for r in suite.results if not r.passed]
    assert not failures, "\n".join(failures)
    cov = suite.coverage
    assert cov.percent >= MIN_COVERAGE, (
        f"{policy.name}: coverage {cov.percent}% ({cov.hit} of {cov.total}) is below {MIN_COVERAGE}%; uncovered: "
        + "; ".join(f"{kind}: {', '.join(ids)}" for kind, ids in cov.uncovered_by_kind().items()))


@pytest.mark.skipif(not POLICIES, reason="no example policies shipped yet")
def test_ci_command_over_the_examples_directory() -> None:
    result = CliRunner().invoke(app, ["test", str(EXAMPLES), "--threshold", str(MIN_COVERAGE)])
    assert result.exit_code == 0, result.stdout + result.stderr
    assert result.stdout.splitlines()[-1].endswith(" passed, 0 failed")
