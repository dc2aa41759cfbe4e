"""Shared pieces of the commands: loading a policy, parsing --as-of, opening inputs, reporting errors."""

from __future__ import annotations

import sys
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import typer

from policy_engine._exceptions import InputError, PluginRegistrationError, PolicyError
from policy_engine.cli.app import EXIT_INPUT_UNUSABLE, EXIT_POLICY_INVALID, EXIT_USAGE
from policy_engine.data.history import HistoryIndex
from policy_engine.data.readers import Rejects
from policy_engine.deliver.registry import get_registry
from policy_engine.policy.channels import ChannelCatalogue
from policy_engine.policy.loader import LoadedPolicy, load_policy

__all__ = ["channel_catalogue", "fail", "load_history", "load_policy_or_exit", "parse_as_of"]


def fail(message: str, code: int) -> typer.Exit:
    """Print ``message`` on stderr and return the Exit to raise."""
    typer.echo(message, err=True)
    return typer.Exit(code)


def channel_catalogue() -> ChannelCatalogue:
    """The installed plugins' channels, templates checked by their owners; a broken plugin set exits 6."""
    try:
        return get_registry().channel_catalogue()
    except PluginRegistrationError as exc:
        raise fail(f"error: {exc}", PluginRegistrationError.exit_code) from None


def load_policy_or_exit(path: Path) -> LoadedPolicy:
    """Load a policy against the installed channels; on any policy error print every located issue and exit 3."""
    catalogue = channel_catalogue()
    try:
        loaded = load_policy(path, channels=catalogue)
    except PolicyError as exc:
        for issue in exc.issues:
            typer.echo(str(issue), err=True)
        raise fail(f"policy {path} is invalid", EXIT_POLICY_INVALID) from None
    return loaded


def parse_as_of(value: str | None, loaded: LoadedPolicy) -> datetime:
    """``--as-of``: ISO 8601 with offset; a date or naive time is read in the policy's time zone; default now."""
    zone = ZoneInfo(loaded.policy.policy.timezone or "UTC")
    if value is None:
        return datetime.now(zone).replace(microsecond=0)
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise fail(f"error: --as-of '{value}' is not an ISO 8601 date or time "
                   "(e.g. 2026-11-28T09:00:00+08:00)", EXIT_USAGE) from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=zone)
    return parsed


def load_history(path: Path | None, rejects: Rejects) -> HistoryIndex:
    """The history index (empty without --history); exit 5 when the file is unusable."""
    if path is None:
        return HistoryIndex()
    try:
        return HistoryIndex.load([path], rejects=rejects)
    except InputError as exc:
        raise fail(f"error: {exc}", EXIT_INPUT_UNUSABLE) from None


def stderr_is_terminal() -> bool:
    """True when progress bars may be drawn."""
    return sys.stderr.isatty()
