"""The typer application every command module registers on."""

from __future__ import annotations

import typer

app = typer.Typer(
    name="policy-engine",
    help="Declarative, explainable collection policies for overdue credit-card debt.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

EXIT_OK = 0
EXIT_USAGE = 2
EXIT_POLICY_INVALID = 3
EXIT_TESTS_FAILED = 4
EXIT_INPUT_UNUSABLE = 5


def _show_version(value: bool) -> None:
    if value:
        from policy_engine import __version__  # noqa: PLC0415  (avoid importing the library at CLI build time)

        typer.echo(f"policy-engine {__version__}")
        raise typer.Exit(EXIT_OK)


@app.callback()
def _root(
    version: bool = typer.Option(False, "--version", callback=_show_version, is_eager=True,
                                 help="Print the version and exit."),
) -> None:
    """Declarative, explainable collection policies for overdue credit-card debt."""
