"""`policy-engine validate` and `policy-engine schema`."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer

from policy_engine.cli.app import EXIT_OK, EXIT_POLICY_INVALID, EXIT_USAGE, app
from policy_engine.cli.common import channel_catalogue
from policy_engine.policy.validate import policy_schema, reports_as_json, validate_paths


@app.command()
def validate(
    paths: Annotated[list[Path], typer.Argument(help="Policy files or directories (walked recursively).")],
    strict: Annotated[bool, typer.Option("--strict", help="Treat warnings as errors.")] = False,
    fmt: Annotated[str, typer.Option("--format", help="text or json.")] = "text",
) -> None:
    """Check policy files: syntax, keys, references, baselines. Exit 0 valid, 3 invalid."""
    if fmt not in ("text", "json"):
        typer.echo(f"error: --format must be text or json, not '{fmt}'", err=True)
        raise typer.Exit(EXIT_USAGE)
    reports = validate_paths(paths, channels=channel_catalogue())
    if not reports:
        typer.echo("error: no policy files found in " + ", ".join(map(str, paths)), err=True)
        raise typer.Exit(EXIT_POLICY_INVALID)
    valid = all(r.ok(strict) for r in reports)
    if fmt == "json":
        typer.echo(reports_as_json(reports, strict))
    else:
        for r in reports:
            for issue in r.issues:
                typer.echo(str(issue))
            if r.ok(strict):
                stamp = r.policy.stamp() if r.policy else {}
                note = f" ({len(r.warnings)} warning{'s' if len(r.warnings) != 1 else ''})" if r.warnings else ""
                typer.echo(f"ok  {r.path}  {stamp.get('id')} {stamp.get('version') or ''}{note}".rstrip())
            else:
                n = len(r.errors) + (len(r.warnings) if strict else 0)
                typer.echo(f"FAIL {r.path}: {n} problem{'s' if n != 1 else ''}")
        bad = sum(not r.ok(strict) for r in reports)
        typer.echo(f"{len(reports)} file{'s' if len(reports) != 1 else ''} checked, {bad} invalid",
                   err=False)
    raise typer.Exit(EXIT_OK if valid else EXIT_POLICY_INVALID)


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
