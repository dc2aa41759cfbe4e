"""Command-line interface: thin typer commands over the library.

Each command lives in its own module and registers itself on :data:`app` when imported; the root group
imports a module only when its command runs (see :mod:`policy_engine.cli.group`). Errors of the tree end
in one place (:mod:`policy_engine.cli.errors`), whichever way the app is run.
"""

from __future__ import annotations

from policy_engine.cli.app import app

__all__ = ["app", "main"]


def main() -> None:
    """Console-script entry point: run the app; an error of the tree exits with its code, no traceback."""
    app()
