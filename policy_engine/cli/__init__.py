"""Command-line interface: thin typer commands over the library.

Each command lives in its own module and registers itself on :data:`app` when imported. Errors of the
tree end in one place (:mod:`policy_engine.cli.errors`), whichever way the app is run.
"""

from __future__ import annotations

from policy_engine.cli import diff_cmd as _diff_cmd  # noqa: F401  (registers `diff`)
from policy_engine.cli import dryrun_cmd, plugins_cmd, queue_cmd, run_cmd, validate_cmd  # noqa: F401  (registers commands)
from policy_engine.cli import ledger_cmd as _ledger_cmd  # noqa: F401  (registers `ledger`)
from policy_engine.cli import report_cmd as _report_cmd  # noqa: F401  (registers `report`)
from policy_engine.cli import simulate_cmd as _simulate_cmd  # noqa: F401  (registers `simulate`)
from policy_engine.cli import test_cmd as _test_cmd  # noqa: F401  (registers `test`)
from policy_engine.cli.app import app

__all__ = ["app", "main"]


def main() -> None:
    """Console-script entry point: run the app; an error of the tree exits with its code, no traceback."""
    app()
