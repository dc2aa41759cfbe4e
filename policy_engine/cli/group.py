"""The root command group: commands are imported only when they run, and every command gets the shared
output options.

Why: a command module imports what it works with (the engine, pydantic models, SQLAlchemy, Rich), and
importing all of them costs far more than ``policy-engine --version`` or ``--help`` may take. So the root
group knows each command by name from :data:`policy_engine.cli.app.COMMANDS` (its module and its one-line
help): ``--help`` lists them from that table, and a command's module is imported when that command is
invoked (or its own ``--help`` is asked for). Each module registers its commands on the app as usual.

Every command, whoever wrote it, also accepts ``--quiet``/``-q``, ``--verbose``/``-v`` and ``--no-color``
(see :mod:`policy_engine.cli.console`), and so does the root (``policy-engine -q dry-run ...``).
"""

from __future__ import annotations

import importlib
from typing import Any

import typer
from typer.main import get_command_from_info, get_command_name, get_group_from_info

from policy_engine.cli.console import reset_settings, shared_option_params
from policy_engine.cli.errors import ErrorExitGroup

__all__ = ["RootGroup"]

_SHARED_NAMES = frozenset({"quiet", "verbose", "no_color"})
_METAVARS = {"<path>": "PATH", "<int>": "N", "<float>": "NUMBER", "<str>": "TEXT"}
"""How an option without its own metavar shows its value in --help (a flag shows nothing)."""


def _no_type(ctx: Any) -> None:
    """What --help shows as an argument's type: nothing (typer would show ``<path>``)."""
    return None


def _tidy_metavars(command: Any, ctx: Any) -> None:
    """Flags show no value in --help; other options show FILE, N, ... rather than ``<path>``, ``<int>``;
    arguments show only their name."""
    help_option = command.get_help_option(ctx) if ctx is not None else None
    for param in [*command.params, *([help_option] if help_option is not None else [])]:
        if getattr(param, "param_type_name", "") == "argument":  # its name (PATHS...) says enough
            param.display_type_rich = _no_type
            continue
        if getattr(param, "param_type_name", "") != "option" or param.metavar is not None:
            continue
        if getattr(param, "is_flag", False):
            param.metavar = ""
        else:
            shown = param.display_type(ctx) if ctx is not None else None
            param.metavar = _METAVARS.get(str(shown))


def _with_shared_options(command: Any, ctx: Any = None) -> Any:
    """``command`` (and, for a group, each of its commands) with the shared options, added once."""
    if not any(param.name in _SHARED_NAMES for param in command.params):
        command.params.extend(shared_option_params())
        _tidy_metavars(command, ctx)
    for sub in getattr(command, "commands", {}).values():
        _with_shared_options(sub, ctx)
    return command


class _Listed(typer.core.TyperCommand):
    """What ``--help`` of the root shows for a command not imported yet: its name and one-line help."""


class RootGroup(ErrorExitGroup):
    """Loads a command's module on first use and gives every command the shared output options."""

    _listing = False

    def main(self, *args: Any, **kwargs: Any) -> Any:
        """Run one command line, starting from default output settings."""
        reset_settings()
        if not any(param.name in _SHARED_NAMES for param in self.params):
            self.params.extend(shared_option_params())
            for param in self.params:
                if getattr(param, "is_flag", False) and param.metavar is None:
                    param.metavar = ""
        return super().main(*args, **kwargs)

    def list_commands(self, ctx: Any) -> list[str]:
        """Every command of the table (in its order), then any registered elsewhere."""
        from policy_engine.cli.app import COMMANDS  # noqa: PLC0415  (app.py builds this group)

        return [*COMMANDS, *(name for name in self.commands if name not in COMMANDS)]

    def format_help(self, ctx: Any, formatter: Any) -> None:
        """The root's help, listing commands from the table without importing them."""
        self._listing = True
        help_option = self.get_help_option(ctx)
        if help_option is not None:
            help_option.metavar = ""
        try:
            super().format_help(ctx, formatter)
        finally:
            self._listing = False

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        """The command named ``cmd_name``: imported and built on first use."""
        from policy_engine.cli.app import COMMANDS  # noqa: PLC0415

        command = self.commands.get(cmd_name)
        if command is None and cmd_name in COMMANDS:
            module, summary = COMMANDS[cmd_name]
            if self._listing:
                return _Listed(name=cmd_name, help=summary, callback=None)
            importlib.import_module(module)
            command = self._build(cmd_name)
            if command is not None:
                self.commands[cmd_name] = command
        if command is None and not self._listing:  # a module someone forgot to list in COMMANDS
            command = self._search_modules(cmd_name)
        return _with_shared_options(command, ctx) if command is not None else None

    def _search_modules(self, name: str) -> Any:
        """Import every ``cli/*_cmd.py`` module and look for ``name`` again (None when no module has it)."""
        import pkgutil  # noqa: PLC0415

        import policy_engine.cli as package  # noqa: PLC0415

        for found in pkgutil.iter_modules(package.__path__):
            if found.name.endswith("_cmd"):
                importlib.import_module(f"{package.__name__}.{found.name}")
        command = self._build(name)
        if command is not None:
            self.commands[name] = command
        return command

    def _build(self, name: str) -> Any:
        """The click command for ``name`` among the app's registered commands and groups, or None."""
        from policy_engine.cli.app import app  # noqa: PLC0415

        for info in app.registered_commands:
            if info.callback is not None and (info.name or get_command_name(info.callback.__name__)) == name:
                return get_command_from_info(info, pretty_exceptions_short=app.pretty_exceptions_short,
                                             rich_markup_mode=app.rich_markup_mode)
        for group in app.registered_groups:
            if group.name == name:
                return get_group_from_info(group, pretty_exceptions_short=app.pretty_exceptions_short,
                                           rich_markup_mode=app.rich_markup_mode,
                                           suggest_commands=app.suggest_commands)
        return None
