"""`policy-engine validate` and `policy-engine schema`."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer

from policy_engine._exceptions import ExitCode, UsageError
from policy_engine.cli.app import app
from policy_engine.cli.common import channel_catalogue
from policy_engine.cli.console import plural, warn, written
from policy_engine.cli.options import OutputOption, TextFormat, TextFormatOption, choice_option
from policy_engine.lifecycle.untrusted import printable
from policy_engine.policy.validate import policy_schema, reports_as_json, validate_paths

__all__ = ["schema", "validate"]


@app.command()
def validate(
    paths: Annotated[list[Path], typer.Argument(metavar="PATH...",
                                                help="Policy files or directories (walked recursively).")],
    strict: Annotated[bool, typer.Option("--strict", help="Treat warnings as errors.")] = False,
    output_format: TextFormatOption = TextFormat.TEXT,
) -> None:
    """Check policy files: syntax, keys, references, baselines. Exit 0 valid, 3 invalid."""
    reports = validate_paths(paths, channels=channel_catalogue())
    if not reports:
        warn("error: no policy files found in " + ", ".join(map(str, paths)))
        raise typer.Exit(ExitCode.POLICY_INVALID)
    valid = all(report.ok(strict) for report in reports)
    if output_format == TextFormat.JSON:
        typer.echo(reports_as_json(reports, strict))
    else:
        for report in reports:
            for issue in report.issues:
                typer.echo(printable(issue, keep_newlines=True))
            if report.ok(strict):
                stamp = report.policy.stamp() if report.policy else {}
                warnings = len(report.warnings)
                note = f" ({plural(warnings, 'warning')})" if warnings else ""
                typer.echo(f"ok  {report.path}  {stamp.get('id')} {stamp.get('version') or ''}{note}".rstrip())
            else:
                problems = len(report.errors) + (len(report.warnings) if strict else 0)
                typer.echo(f"FAIL {report.path}: {plural(problems, 'problem')}")
        invalid = sum(not report.ok(strict) for report in reports)
        typer.echo(f"{plural(len(reports), 'file')} checked, {invalid} invalid")
    raise typer.Exit(ExitCode.OK if valid else ExitCode.POLICY_INVALID)


@app.command()
def schema(
    output: OutputOption = None,
    output_format: Annotated[TextFormat, choice_option(
        TextFormat, "--format", "-f", help="json: the JSON Schema (for editors); text: the same keys as a "
        "Markdown reference, one table per policy table.")] = TextFormat.JSON,
) -> None:
    """Print the JSON Schema of a policy file (for editor autocomplete), or its key reference.

    Every key carries its description, the same text the policy guide's reference shows.
    """
    if output_format == TextFormat.JSON:
        text = json.dumps(policy_schema(), indent=2, ensure_ascii=False, sort_keys=True) + "\n"
    else:
        from policy_engine.cli.reference import key_reference  # noqa: PLC0415

        text = key_reference()
    if output is None:
        sys.stdout.write(text)
        return
    try:
        output.write_text(text, encoding="utf-8")
    except OSError as error:
        raise UsageError(f"cannot write {output} ({error.strerror or error})") from None
    written(output, "the key reference" if output_format == TextFormat.TEXT else "the JSON Schema")
