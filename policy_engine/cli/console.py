"""How every command talks to people: the shared --quiet / --verbose / --no-color settings, the consoles
that honour them, and untrusted text made safe to print.

The rules this module keeps:

- Results go to stdout; notes (progress, "wrote FILE", counts) go to stderr and are silenced by
  ``--quiet``; errors and warnings are never silenced. ``--verbose`` adds detail (e.g. every rejected row).
- Colour follows ``--no-color`` and the ``NO_COLOR`` environment variable.
- A console writing to a terminal uses its width; writing to a pipe or file it uses ``COLUMNS`` when
  set, else :data:`PIPE_WIDTH`.
- Data is never read as Rich markup: commands put input values in :func:`cell` (a Rich ``Text``) or
  through :func:`markup_safe`, both of which also show control characters as visible escapes.

Commands read the settings with :func:`settings`; the root command group (``cli/group.py``) resets them
at the start of each invocation and adds the three options to every command.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from typing import IO, TYPE_CHECKING, Any

import typer

from policy_engine.lifecycle.untrusted import printable

if TYPE_CHECKING:
    from rich.console import Console
    from rich.text import Text

__all__ = [
    "PIPE_WIDTH",
    "OutputSettings",
    "cell",
    "markup_safe",
    "note",
    "plural",
    "reset_settings",
    "settings",
    "shared_option_params",
    "stderr_console",
    "stdout_console",
    "warn",
    "written",
]

PIPE_WIDTH = 120
"""The width of tables written to a pipe or file when ``COLUMNS`` is not set."""


@dataclass
class OutputSettings:
    """What the shared options asked for in this invocation."""

    quiet: bool = False
    verbose: bool = False
    no_color: bool = False

    @property
    def color(self) -> bool:
        """Whether colour may be used (``--no-color`` and ``NO_COLOR`` both turn it off)."""
        return not self.no_color and not os.environ.get("NO_COLOR")


_current = OutputSettings()


def settings() -> OutputSettings:
    """The output settings of the running command."""
    return _current


def reset_settings() -> None:
    """Forget the settings of an earlier invocation (the root group calls this as it starts)."""
    global _current
    _current = OutputSettings()


def _set_quiet(value: bool) -> None:
    if value:
        _current.quiet = True


def _set_verbose(value: bool) -> None:
    if value:
        _current.verbose = True


def _set_no_color(value: bool) -> None:
    if value:
        _current.no_color = True


_shared = typer.Typer(add_completion=False)


@_shared.command()
def _options(
    quiet: bool = typer.Option(False, "--quiet", "-q", expose_value=False, callback=_set_quiet,
                               help="Print only results, warnings and errors: no progress, no notes."),
    verbose: bool = typer.Option(False, "--verbose", "-v", expose_value=False, callback=_set_verbose,
                                 help="Print more detail, e.g. every rejected input row."),
    no_color: bool = typer.Option(False, "--no-color", expose_value=False, callback=_set_no_color,
                                  help="No colours (also: the NO_COLOR environment variable)."),
) -> None:
    """Only a carrier: its options are added to every command."""


def shared_option_params() -> list[Any]:
    """Fresh click parameters for --quiet/-q, --verbose/-v and --no-color (one definition for every command)."""
    return list(typer.main.get_command(_shared).params)


def plural(count: int, noun: str, plural_form: str | None = None) -> str:
    """``1 day``, ``2 days``, ``0 rows``; ``plural_form`` for irregular nouns (``1 policy``, ``2 policies``)."""
    return f"{count} {noun if count == 1 else (plural_form or noun + 's')}"


def note(message: str) -> None:
    """A line for people on stderr (a count, a completion line); silent under --quiet."""
    if not _current.quiet:
        typer.echo(message, err=True)


def written(path: object, what: str) -> None:
    """The completion line of a command that wrote to ``--output`` (nothing when it wrote to stdout)."""
    if path is not None:
        note(f"wrote {what} to {path}")


def warn(message: str) -> None:
    """A warning on stderr; never silenced."""
    typer.echo(message, err=True)


def _width(stream: IO[str]) -> int | None:
    if stream.isatty():
        return None
    columns = os.environ.get("COLUMNS", "")
    return int(columns) if columns.isdigit() and int(columns) > 0 else PIPE_WIDTH


def stdout_console(stream: IO[str] | None = None) -> Console:
    """A console for results written to ``stream`` (default stdout), following the settings."""
    from rich.console import Console  # noqa: PLC0415  (rich is imported when a command prints, not at start-up)

    out = stream if stream is not None else sys.stdout
    return Console(file=out, width=_width(out), highlight=False, no_color=not settings().color,
                   color_system="auto" if settings().color else None, soft_wrap=False, emoji=False)


def stderr_console() -> Console:
    """A console for progress bars and notes on stderr, following the settings."""
    from rich.console import Console  # noqa: PLC0415

    return Console(file=sys.stderr, highlight=False, no_color=not settings().color,
                   color_system="auto" if settings().color else None, emoji=False)


def markup_safe(value: object) -> str:
    """Input text ready to embed in a Rich markup string: control characters visible, brackets escaped."""
    from rich.markup import escape  # noqa: PLC0415

    return escape(printable(value))


def cell(value: object, style: str = "") -> Text:
    """Input text as a Rich ``Text``: never parsed as markup, control characters shown as escapes."""
    from rich.text import Text  # noqa: PLC0415

    return Text("" if value is None else printable(value), style=style)
