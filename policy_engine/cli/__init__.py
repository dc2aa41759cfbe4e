"""Command-line interface: thin typer commands over the library.

Each command lives in its own module and registers itself on :data:`app` when imported.
"""

from __future__ import annotations

from policy_engine.cli import dryrun_cmd, validate_cmd  # noqa: F401  (registers commands)
from policy_engine.cli.app import app

__all__ = ["app", "main"]


def main() -> None:
    """Console-script entry point."""
    app()
