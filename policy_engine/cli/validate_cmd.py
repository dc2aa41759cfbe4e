"""`policy-engine validate` and `policy-engine schema`."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer

from policy_engine._exceptions import ExitCode
from policy_engine.cli.app import app
from policy_engine.cli.common import channel_catalogue
from policy_engine.cli.options import TextFormat, TextFormatOption
from policy_engine.policy.validate import policy_schema, reports_as_json, validate_paths


@app.command()
def validate(
    paths: Annotated[list[Path], typer.Argument(help="Policy files or directories (walked recursively).")],
    strict: Annotated[bool, typer.Option("--strict", help="Treat warnings as errors.")] = False,
    output_format: TextFormatOption = TextFormat.TEXT,
) -> None:
    """Check policy files: syntax, keys, references, baselines. Exit 0 valid, 3 invalid."""
    reports = validate_paths(paths, channels=channel_catalogue())
    if not reports:
        typer.echo("error: no policy files found in " + ", ".join(map(str, paths)), err=True)
        raise typer.Exit(ExitCode.POLICY_INVALID)
    valid = all(report.ok(strict) for report in reports)
    if output_format == TextFormat.JSON:
        typer.echo(reports_as_json(reports, strict))
    else:
        for report in reports:
            for issue in report.issues:
                typer.echo(str(issue))
            if report.ok(strict):
                stamp = report.policy.stamp() if report.policy else {}
                warnings = len(report.warnings)
                note = f" ({warnings} warning{'s' if warnings != 1 else ''})" if warnings else ""
                typer.echo(f"ok  {report.path}  {stamp.get('id')} {stamp.get('version') or ''}{note}".rstrip())
            else:
                problems = len(report.errors) + (len(report.warnings) if strict else 0)
                typer.echo(f"FAIL {report.path}: {problems} problem{'s' if problems != 1 else ''}")
        invalid = sum(not report.ok(strict) for report in reports)
        typer.echo(f"{len(reports)} file{'s' if len(reports) != 1 else ''} checked, {invalid} invalid")
    raise typer.Exit(ExitCode.OK if valid else ExitCode.POLICY_INVALID)


@app.command()
def schema(
    output: Annotated[Path | None, typer.Option("--output", "-o", help="Write to this file.")] = None,
) -> None:
    """Print the JSON Schema of a policy file (for editor autocomplete)."""
    text = json.dumps(policy_schema(), indent=2, ensure_ascii=False, sort_keys=True) + "\n"
    if output:
        output.write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)
