"""`policy-engine test`: run the policies' embedded and sibling `*_test.toml` suites, with rule coverage."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from policy_engine._exceptions import ExitCode, UsageError
from policy_engine.cli.app import app
from policy_engine.cli.common import channel_catalogue
from policy_engine.cli.console import plural, warn
from policy_engine.cli.explanation import print_explanation
from policy_engine.cli.options import DEFAULT_BACKEND_CHOICE, BackendOption, TextFormat, TextFormatOption
from policy_engine.lifecycle.suite import RunReport, SuiteResult, failure_lines, run_paths, sibling_test_file
from policy_engine.lifecycle.untrusted import printable


def _summary(report: RunReport) -> str:
    return f"{report.passed} passed, {report.failed} failed"


def _print_coverage(suite: SuiteResult, threshold: float | None) -> None:
    coverage = suite.coverage
    typer.echo(f"coverage {suite.policy_path}: {coverage.percent}% ({coverage.hit} of "
               f"{plural(coverage.total, 'rule')})")
    for kind, ids in coverage.uncovered_by_kind().items():
        typer.echo(f"  uncovered {kind}: {', '.join(ids)}")
    if threshold is not None and suite.exempt:
        typer.echo("  (a baseline: not held to --threshold)")
    elif threshold is not None and not coverage.meets(threshold):
        typer.echo(f"  coverage {coverage.percent}% is below the threshold {threshold:g}%")


def _print_text(report: RunReport, coverage: bool, threshold: float | None) -> None:
    console = Console(width=156, highlight=False, no_color=True, color_system=None, emoji=False)
    for suite in report.suites:
        typer.echo(f"policy {suite.policy_path}: {suite.loaded.id} {suite.loaded.version or ''}".rstrip()
                   + f" — {plural(len(suite.results), 'test')}")
        for result in suite.results:
            typer.echo(f"{'PASS' if result.passed else 'FAIL'} {result.case.name}  ({result.case.location})")
    for suite in report.suites:
        for result in suite.results:
            if result.passed:
                continue
            typer.echo("")
            typer.echo(f"FAIL {result.case.name}  ({result.case.location})")
            for line in failure_lines(result):
                typer.echo(f"  {line}")
            if result.decision is not None:
                typer.echo("  explanation:")
                with console.capture() as captured:
                    print_explanation(result.decision, result.case.account, console)
                for line in captured.get().rstrip("\n").split("\n"):
                    typer.echo(f"    {line}".rstrip())
    if coverage:
        typer.echo("")
        for suite in report.suites:
            _print_coverage(suite, threshold)
    typer.echo(_summary(report))


def _json(report: RunReport, threshold: float | None) -> str:
    data: dict[str, Any] = {
        "suites": [suite.to_dict() for suite in report.suites],
        "issues": [issue.as_dict() for issue in report.issues],
        "passed": report.passed,
        "failed": report.failed,
        "threshold": threshold,
        "below_threshold": [suite.policy_path for suite in report.below(threshold)] if threshold is not None else [],
    }
    return json.dumps(data, indent=2, ensure_ascii=False, default=str)


@app.command("test")
def test_command(
    paths: Annotated[list[Path], typer.Argument(help="Policy files, *_test.toml files or directories.")],
    coverage: Annotated[bool, typer.Option("--coverage", help="Report the rules no test exercised.")] = False,
    threshold: Annotated[float | None, typer.Option(
        "--threshold", metavar="PCT", help="Fail (exit 4) when rule coverage is below PCT percent "
        "(coverage is floored, never rounded up). Implies --coverage.")] = None,
    output_format: TextFormatOption = TextFormat.TEXT,
    backend: BackendOption = DEFAULT_BACKEND_CHOICE,
) -> None:
    """Run policy tests. Exit 0 all pass, 4 a test fails (or coverage is below --threshold), 3 invalid.

    A policy's tests are the [[tests]] in it and those of NAME_test.toml next to NAME.toml. Finding no test
    at all (baselines aside) exits 4 and says so; a file named like bank-test.toml or test_bank.toml
    next to bank.toml is reported with the name to give it.
    """
    if threshold is not None and not 0 <= threshold <= 100:
        raise UsageError(f"--threshold must be a percentage between 0 and 100, not {threshold:g}")
    try:
        report = run_paths(paths, backend=backend, channels=channel_catalogue())
    except ImportError as error:  # an optional rule backend that is not installed
        raise UsageError(f"the {backend} backend is not available: {error}") from None
    for issue in report.issues:
        warn(printable(issue, keep_newlines=True))
    if not report.suites and not report.issues:
        warn("error: no policy files found in " + ", ".join(map(str, paths)))
        raise typer.Exit(ExitCode.POLICY_INVALID)
    untested = [suite for suite in report.suites if not suite.results and not suite.exempt]
    if output_format == TextFormat.JSON:
        typer.echo(_json(report, threshold))
    else:
        _print_text(report, coverage or threshold is not None, threshold)
    _warn_not_run(report, untested)
    raise typer.Exit(_exit_code(report, untested, threshold, paths))


def _warn_not_run(report: RunReport, untested: list[SuiteResult]) -> None:
    """Say which policies' tests did not run (invalid policy or test data) and which policies have none."""
    for path, why in report.invalid:
        what = "its test data is invalid" if why == "tests" else "the policy is invalid"
        typer.echo(f"error: the tests of {path} did not run: {what}", err=True)
    for suite in untested:
        warn(f"warning: {suite.policy_path} has no tests: write them as [[tests]] in the policy or in "
             f"{sibling_test_file(Path(suite.policy_path)).name} next to it")


def _exit_code(report: RunReport, untested: list[SuiteResult], threshold: float | None, paths: list[Path]) -> int:
    """3 for an invalid policy, 4 when no test ran, one failed or coverage is below the threshold, else 0."""
    if report.issues:
        return ExitCode.POLICY_INVALID
    if untested and not any(suite.results for suite in report.suites):
        warn("error: no tests found in " + ", ".join(map(str, paths)) + " (exit 4)")
        return ExitCode.TESTS_FAILED
    if report.failed or (threshold is not None and report.below(threshold)):
        return ExitCode.TESTS_FAILED
    return ExitCode.OK
