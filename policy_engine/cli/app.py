"""The typer application every command module registers on.

Its root group is :class:`~policy_engine.cli.errors.ErrorExitGroup`: an error of the tree raised by any
command becomes its located message(s) on stderr and its class's exit code (see ``ExitCode``).
"""

from __future__ import annotations

import typer

from policy_engine._exceptions import ExitCode
from policy_engine.cli.errors import ErrorExitGroup

__all__ = ["app"]

app = typer.Typer(
    name="policy-engine",
    cls=ErrorExitGroup,
    help="Declarative, explainable collection policies for overdue credit-card debt.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _show_version(requested: bool) -> None:
    if requested:
        from policy_engine import __version__  # noqa: PLC0415  (avoid importing the library at CLI build time)

        typer.echo(f"policy-engine {__version__}")
        raise typer.Exit(ExitCode.OK)


@app.callback()
def _root(
    version: bool = typer.Option(False, "--version", callback=_show_version, is_eager=True,
                                 help="Print the version and exit."),
) -> None:
    """Declarative, explainable collection policies for overdue credit-card debt."""
