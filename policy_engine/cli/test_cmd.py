"""`policy-engine test`: run the policies' embedded and sibling `*_test.toml` suites, with rule coverage."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from policy_engine.cli.app import EXIT_OK, EXIT_POLICY_INVALID, EXIT_TESTS_FAILED, EXIT_USAGE, app
from policy_engine.cli.common import channel_catalogue
from policy_engine.cli.table import print_explanation
from policy_engine.decide.rules import BACKENDS, DEFAULT_BACKEND
from policy_engine.lifecycle.suite import RunReport, SuiteResult, failure_lines, run_paths

FORMATS = ("text", "json")


def _summary(report: RunReport) -> str:
    return f"{report.passed} passed, {report.failed} failed"


def _print_coverage(suite: SuiteResult, threshold: float | None) -> None:
    cov = suite.coverage
    typer.echo(f"coverage {suite.policy_path}: {cov.percent}% ({cov.hit} of {cov.total} rules)")
    for kind, ids in cov.uncovered_by_kind().items():
        typer.echo(f"  uncovered {kind}: {', '.join(ids)}")
    if threshold is not None and suite.exempt:
        typer.echo("  (a baseline: not held to --threshold)")
    elif threshold is not None and not cov.meets(threshold):
        typer.echo(f"  coverage {cov.percent}% is below the threshold {threshold:g}%")


def _print_text(report: RunReport, coverage: bool, threshold: float | None) -> None:
    console = Console(width=156, highlight=False, no_color=True, color_system=None)
    for suite in report.suites:
        n = len(suite.results)
        typer.echo(f"policy {suite.policy_path}: {suite.loaded.id} {suite.loaded.version or ''}".rstrip()
                   + f" — {n} test{'s' if n != 1 else ''}")
        for r in suite.results:
            typer.echo(f"{'PASS' if r.passed else 'FAIL'} {r.case.name}  ({r.case.location})")
    for suite in report.suites:
        for r in suite.results:
            if r.passed:
                continue
            typer.echo("")
            typer.echo(f"FAIL {r.case.name}  ({r.case.location})")
            for line in failure_lines(r):
                typer.echo(f"  {line}")
            if r.decision is not None:
                typer.echo("  explanation:")
                with console.capture() as captured:
                    print_explanation(r.decision, r.case.account, console)
                for line in captured.get().rstrip("\n").split("\n"):
                    typer.echo(f"    {line}".rstrip())
    if coverage:
        typer.echo("")
        for suite in report.suites:
            _print_coverage(suite, threshold)
    typer.echo(_summary(report))


def _json(report: RunReport, threshold: float | None) -> str:
    data: dict[str, Any] = {
        "suites": [s.to_dict() for s in report.suites],
        "issues": [i.as_dict() for i in report.issues],
        "passed": report.passed,
        "failed": report.failed,
        "threshold": threshold,
        "below_threshold": [s.policy_path for s in report.below(threshold)] if threshold is not None else [],
    }
    return json.dumps(data, indent=2, ensure_ascii=False, default=str)


@app.command("test")
def test_command(
    paths: Annotated[list[Path], typer.Argument(help="Policy files, *_test.toml files or directories.")],
    coverage: Annotated[bool, typer.Option("--coverage", help="Report the rules no test exercised.")] = False,
    threshold: Annotated[float | None, typer.Option(
        "--threshold", metavar="PCT", help="Fail (exit 4) when rule coverage is below PCT percent "
        "(coverage is floored, never rounded up). Implies --coverage.")] = None,
    fmt: Annotated[str, typer.Option("--format", help="text or json.")] = "text",
    backend: Annotated[str, typer.Option("--backend", help="compiled or durable.")] = DEFAULT_BACKEND,
) -> None:
    """Run policy tests. Exit 0 all pass, 4 a test fails (or coverage is below --threshold), 3 invalid."""
    if fmt not in FORMATS:
        raise _usage(f"--format must be text or json, not '{fmt}'")
    if backend not in BACKENDS:
        raise _usage(f"--backend must be one of {', '.join(BACKENDS)}, not '{backend}'")
    if threshold is not None and not 0 <= threshold <= 100:
        raise _usage(f"--threshold must be a percentage between 0 and 100, not {threshold:g}")
    try:
        report = run_paths(paths, backend=backend, channels=channel_catalogue())
    except ImportError as exc:  # an optional rule backend that is not installed
        raise _usage(f"the {backend} backend is not available: {exc}") from None
    for issue in report.issues:
        typer.echo(str(issue), err=True)
    if not report.suites and not report.issues:
        typer.echo("error: no policy files found in " + ", ".join(map(str, paths)), err=True)
        raise typer.Exit(EXIT_POLICY_INVALID)
    if fmt == "json":
        typer.echo(_json(report, threshold))
    else:
        _print_text(report, coverage or threshold is not None, threshold)
    for path, why in report.invalid:
        what = "its test data is invalid" if why == "tests" else "the policy is invalid"
        typer.echo(f"error: the tests of {path} did not run: {what}", err=True)
    if report.issues:
        raise typer.Exit(EXIT_POLICY_INVALID)
    if report.failed or (threshold is not None and report.below(threshold)):
        raise typer.Exit(EXIT_TESTS_FAILED)
    raise typer.Exit(EXIT_OK)


def _usage(message: str) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(EXIT_USAGE)
