"""`policy-engine plugins`: the installed channel plugins, their versions, channels and hooks."""

from __future__ import annotations

import json

import typer

from policy_engine._exceptions import ExitCode
from policy_engine.cli.app import app
from policy_engine.cli.options import TextFormat, TextFormatOption
from policy_engine.deliver.registry import get_registry


@app.command("plugins")
def plugins_command(output_format: TextFormatOption = TextFormat.TEXT) -> None:
    """List installed plugins (entry-point group policy_engine) with their channels and hooks.

    A broken plugin set (an allow-list naming a plugin that is not installed, a plugin that fails to
    import) exits 6.
    """
    registry = get_registry(reload=True)
    channels = registry.registered_channels()
    infos = registry.plugin_infos()
    if output_format == TextFormat.JSON:
        data = {
            "plugins": [info.as_dict() for info in infos],
            "channels": {name: spec.as_dict() for name, spec in sorted(channels.items())},
        }
        typer.echo(json.dumps(data, indent=2, ensure_ascii=False))
        raise typer.Exit(ExitCode.OK)
    if not infos:
        typer.echo("no plugins installed (or POLICY_ENGINE_PLUGINS allows none)")
    for info in infos:
        version = info.version or "-"
        hooks = ", ".join(hook.removeprefix("policy_engine_") for hook in info.hooks)
        typer.echo(f"{info.name} {version}  ({info.distribution or 'registered in code'})")
        for name in info.channels:
            spec = channels[name]
            extra = f", contact {spec.contact_point}" if spec.contact_point else ""
            rules = f", rules {', '.join(spec.content_rules)}" if spec.content_rules else ""
            typer.echo(f"  channel {name}: {spec.kind}{extra}{rules}")
        typer.echo(f"  hooks: {hooks}")
    raise typer.Exit(ExitCode.OK)
