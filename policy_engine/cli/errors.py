"""One error exit for every command: an error of the tree that reaches the CLI ends as its located
message(s) on stderr and the exit code its class carries, never as a traceback.

The handler sits in the root command group, so the console script (``main``) and a test invoking ``app``
through typer's CliRunner take the same path. Commands therefore never catch the library's errors to
report them: they raise, or let the error through, and this module reports it. A message may quote input
(an account id, a key of the policy file): its control characters are shown as escapes, never sent to the
terminal.
"""

from __future__ import annotations

from typing import Any

import typer
from typer.core import TyperGroup

from policy_engine._exceptions import PolicyEngineError, PolicyError
from policy_engine.lifecycle.untrusted import printable

__all__ = ["ErrorExitGroup", "error_lines"]


def error_lines(error: PolicyEngineError) -> list[str]:
    """The lines a user reads on stderr for ``error``.

    A policy error gives every located issue, then the verdict naming the policy file; any other error
    gives one ``error: ...`` line.
    """
    if isinstance(error, PolicyError):
        verdict = f"policy {error.policy_file} is invalid" if error.policy_file else "the policy is invalid"
        return [*(str(issue) for issue in error.issues), verdict]
    return [f"error: {error}"]


class ErrorExitGroup(TyperGroup):
    """The root command group: runs the command line and reports an error of the tree as it exits."""

    def invoke(self, ctx: Any) -> Any:  # ctx: the click context typer builds (typer keeps its class internal)
        """Run the command; on a PolicyEngineError print its lines on stderr and exit with its class's code."""
        try:
            return super().invoke(ctx)
        except PolicyEngineError as error:
            for line in error_lines(error):
                typer.echo(printable(line, keep_newlines=True), err=True)
            raise typer.Exit(error.exit_code) from None
