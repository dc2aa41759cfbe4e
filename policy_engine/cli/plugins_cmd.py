"""`policy-engine plugins`: the installed channel plugins, their versions, channels and hooks."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from policy_engine._exceptions import PluginError
from policy_engine.cli.app import EXIT_OK, EXIT_USAGE, app
from policy_engine.deliver.registry import get_registry

EXIT_PLUGIN_ERROR = 1


@app.command("plugins")
def plugins_command(
    fmt: Annotated[str, typer.Option("--format", help="text or json.")] = "text",
) -> None:
    """List installed plugins (entry-point group policy_engine) with their channels and hooks."""
    if fmt not in ("text", "json"):
        typer.echo(f"error: --format must be text or json, not '{fmt}'", err=True)
        raise typer.Exit(EXIT_USAGE)
    try:
        registry = get_registry(reload=True)
        channels = registry.registered_channels()
    except PluginError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(EXIT_PLUGIN_ERROR) from exc
    infos = registry.plugin_infos()
    if fmt == "json":
        data = {
            "plugins": [info.as_dict() for info in infos],
            "channels": {name: spec.as_dict() for name, spec in sorted(channels.items())},
        }
        typer.echo(json.dumps(data, indent=2, ensure_ascii=False))
        raise typer.Exit(EXIT_OK)
    if not infos:
        typer.echo("no plugins installed (or POLICY_ENGINE_PLUGINS allows none)")
    for info in infos:
        version = info.version or "-"
        hooks = ", ".join(h.removeprefix("policy_engine_") for h in info.hooks)
        typer.echo(f"{info.name} {version}  ({info.distribution or 'registered in code'})")
        for name in info.channels:
            spec = channels[name]
            extra = f", contact {spec.contact_point}" if spec.contact_point else ""
            rules = f", rules {', '.join(spec.content_rules)}" if spec.content_rules else ""
            typer.echo(f"  channel {name}: {spec.kind}{extra}{rules}")
        typer.echo(f"  hooks: {hooks}")
    raise typer.Exit(EXIT_OK)
