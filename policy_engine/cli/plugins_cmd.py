"""`policy-engine plugins`: the installed channel plugins, their channels and hooks, and whether each channel
has the settings it needs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from policy_engine._exceptions import ExitCode
from policy_engine.cli.app import app
from policy_engine.cli.options import TextFormat, TextFormatOption
from policy_engine.deliver.registry import get_registry
from policy_engine.deliver.settings import DEFAULT_CONFIG, load_settings, missing_settings, setting_env_var

__all__ = ["plugins_command"]


def _settings_status(channels: dict[str, Any], config: Path | None) -> dict[str, dict[str, Any]]:
    """Per channel: the settings it requires (``a|b``: one of them), those missing, and whether it is configured."""
    settings = load_settings(sorted(channels), config)
    status = {}
    for name, spec in sorted(channels.items()):
        missing = missing_settings(spec, settings[name])
        status[name] = {"required": list(spec.required_settings), "missing": missing, "configured": not missing,
                        "set": sorted(settings[name].masked())}
    return status


def _wanted(keys: list[str]) -> str:
    return ", ".join(key.replace("|", " or ") for key in keys)


@app.command("plugins")
def plugins_command(
    output_format: TextFormatOption = TextFormat.TEXT,
    config: Annotated[Path | None, typer.Option(
        "--config", metavar="FILE",
        help=f"Channel settings (TOML) to check; default {DEFAULT_CONFIG} when present.")] = None,
) -> None:
    """List installed plugins (entry-point group policy_engine) with their channels and hooks, and whether
    each channel is configured.

    A channel is configured when every setting it requires is set, under [channels.NAME] of the config
    file or as POLICY_ENGINE_<NAME>_<KEY>. A broken plugin set (an allow-list naming a plugin that is not
    installed, a plugin that fails to import) exits 6.
    """
    if config is None and Path(DEFAULT_CONFIG).is_file():
        config = Path(DEFAULT_CONFIG)
    registry = get_registry(reload=True)
    channels = registry.registered_channels()
    infos = registry.plugin_infos()
    status = _settings_status(channels, config)
    if output_format == TextFormat.JSON:
        data = {
            "plugins": [info.as_dict() for info in infos],
            "channels": {name: {**spec.as_dict(), "settings": status[name]} for name, spec in sorted(channels.items())},
            "config": str(config) if config is not None else None,
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
            state = status[name]
            if not state["required"]:
                typer.echo("    settings: none required: configured")
            elif state["configured"]:
                typer.echo(f"    settings: {_wanted(state['required'])}: configured")
            else:
                first = state["missing"][0].split("|")[0]
                typer.echo(f"    settings: {_wanted(state['required'])}: NOT configured (missing "
                           f"{_wanted(state['missing'])}; e.g. {setting_env_var(name, first)})")
        typer.echo(f"  hooks: {hooks}")
    where = f"config {config}" if config is not None else f"no config file ({DEFAULT_CONFIG} not found)"
    configured = sum(state["configured"] for state in status.values())
    typer.echo(f"{configured} of {len(status)} channels configured ({where}, plus POLICY_ENGINE_* variables)")
    raise typer.Exit(ExitCode.OK)
