"""The typer application every command module registers on, and the table of its commands.

Its root group is :class:`~policy_engine.cli.group.RootGroup`: it imports a command's module only when
that command runs (so ``--version`` and ``--help`` start fast), adds the shared output options to every
command, and, as an :class:`~policy_engine.cli.errors.ErrorExitGroup`, turns an error of the tree into its
located message(s) on stderr and its class's exit code (see ``ExitCode``).

A new command is one line in :data:`COMMANDS` (its name, its module, the first paragraph of its
docstring); a test checks the table against the commands the modules register.
"""

from __future__ import annotations

import typer

from policy_engine.cli.group import RootGroup

__all__ = ["COMMANDS", "app"]

COMMANDS: dict[str, tuple[str, str]] = {
    "validate": ("policy_engine.cli.validate_cmd",
                 "Check policy files: syntax, keys, references, baselines. Exit 0 valid, 3 invalid."),
    "schema": ("policy_engine.cli.validate_cmd",
               "Print the JSON Schema of a policy file (for editor autocomplete), or its key reference."),
    "test": ("policy_engine.cli.test_cmd",
             "Run policy tests. Exit 0 all pass, 4 a test fails (or coverage is below --threshold), 3 invalid."),
    "dry-run": ("policy_engine.cli.dryrun_cmd",
                "Decide what to do for every account, and print the plan without sending anything."),
    "explain": ("policy_engine.cli.explain_cmd",
                "Why one account gets each action today, and why not the others: the answer first, then the "
                "whole trace."),
    "simulate": ("policy_engine.cli.simulate_cmd",
                 "Simulate the policy day by day; write every contact as a history event (feed it back as "
                 "--history)."),
    "diff": ("policy_engine.cli.diff_cmd",
             "Decision-by-decision impact of a candidate policy: changed accounts, contacts, suppressions."),
    "report": ("policy_engine.cli.report_cmd",
               "Write one HTML report for a reviewer: what the policy does to a portfolio, and the limits it "
               "keeps."),
    "run": ("policy_engine.cli.run_cmd",
            "Decide, then send every planned action exactly once through the channel plugins (exit 7 when "
            "some action failed permanently or was held in this run)."),
    "queue": ("policy_engine.cli.queue_cmd", "Agent tasks: list, claim and complete them."),
    "ledger": ("policy_engine.cli.ledger_cmd",
               "The ledger: failed dispatches, requeue them, one account's full history."),
    "plugins": ("policy_engine.cli.plugins_cmd",
                "List installed plugins (entry-point group policy_engine) with their channels and hooks, and "
                "whether each channel is configured."),
    "sinks": ("policy_engine.cli.sinks_cmd",
              "Start local stand-ins for an SMTP server and an SMS/voice gateway, keeping what they receive in "
              "a folder."),
}
"""Command name -> (module that registers it, the first paragraph of its help)."""

app = typer.Typer(
    name="policy-engine",
    cls=RootGroup,
    help="Declarative, explainable collection policies for overdue credit-card debt.",
    no_args_is_help=True,
    add_completion=True,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _show_version(requested: bool) -> None:
    if requested:
        from policy_engine import __version__  # noqa: PLC0415  (the package, not its modules)

        typer.echo(f"policy-engine {__version__}")
        raise typer.Exit(0)


@app.callback()
def _root(
    version: bool = typer.Option(False, "--version", "-V", callback=_show_version, is_eager=True,
                                 help="Print the version and exit."),
) -> None:
    """Declarative, explainable collection policies for overdue credit-card debt.

    Every command takes --quiet, --verbose and --no-color; `policy-engine COMMAND -h` shows its options.
    """
