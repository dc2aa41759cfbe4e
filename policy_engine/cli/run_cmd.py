"""`policy-engine run`: evaluate, persist, dispatch through the channel plugins, record outcomes.

What an operator sees: a progress bar per channel on stderr while it runs (totals, rate, ETA; none when
stderr is not a terminal), then a summary naming the ledger (credentials hidden), the policy and the
as-of, with one row per channel that keeps apart what happened *in this run* (sent, failed, held for a
person, paused) from what an earlier run did (already sent, failed earlier). Exit 0, or 7 when any action
failed permanently or was held in this run; 2 (nothing done) when a channel's settings are missing or
of the wrong type.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeRemainingColumn
from rich.table import Table

from policy_engine._exceptions import ExitCode, UsageError
from policy_engine.cli.app import app
from policy_engine.cli.common import (
    check_config,
    load_history,
    load_policy_or_exit,
    open_ledger_or_exit,
    parse_as_of,
    stderr_is_terminal,
)
from policy_engine.cli.options import (
    BATCH_BACKEND_CHOICE,
    AccountsOption,
    AsOfOption,
    BatchBackendOption,
    HistoryOption,
    PolicyOption,
    RejectsOption,
    TableFormat,
    choice_option,
)
from policy_engine.data.readers import Rejects, read_accounts
from policy_engine.decide.engine import Engine
from policy_engine.deliver.registry import get_registry
from policy_engine.deliver.run import (
    BatchReport,
    history_with_ledger,
    rehearsal_clock,
    run_batch,
    settings_problems,
    unconfigured_channels,
)
from policy_engine.deliver.settings import setting_env_var

COLUMNS = (
    ("sent", "sent"), ("failed", "failed"), ("held", "held"), ("paused", "paused"), ("expired", "expired"),
    ("deferred", "scheduled later"), ("already_sent", "already sent"), ("failed_earlier", "failed earlier"),
    ("in_flight", "other run"),
)
"""The summary's columns: this run's outcomes first, then what earlier (or concurrent) runs did."""


class _ProgressBars:
    """A rich progress bar per channel on stderr: settled of due, rate and time left."""

    def __init__(self, console: Console) -> None:
        self.progress = Progress(
            TextColumn("{task.description:<12}"), BarColumn(), MofNCompleteColumn(),
            TextColumn("{task.fields[rate]:>8}/s"), TimeRemainingColumn(), console=console, transient=False,
        )
        self.tasks: dict[str, TaskID] = {}

    def __enter__(self) -> _ProgressBars:
        self.progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.progress.stop()

    def _task(self, channel: str) -> TaskID:
        if channel not in self.tasks:
            self.tasks[channel] = self.progress.add_task(escape(channel), total=0, rate="-")
        return self.tasks[channel]

    def planned(self, channel: str, count: int) -> None:
        task = self._task(channel)
        self.progress.update(task, total=(self.progress.tasks[task].total or 0) + count)

    def done(self, channel: str, count: int) -> None:
        task = self._task(channel)
        self.progress.advance(task, count)
        speed = self.progress.tasks[task].speed
        self.progress.update(task, rate=f"{speed:,.0f}" if speed else "-")


def _print_report(report: BatchReport, console: Console) -> None:
    policy = report.policy
    console.print(f"ledger {escape(report.ledger)}  policy {escape(str(policy.get('id')))} "
                  f"{escape(str(policy.get('version') or ''))}  as of {escape(report.as_of)}  "
                  f"({report.seconds:.1f} s)", highlight=False)
    table = Table(title=f"run summary: {report.accounts} accounts")
    table.add_column("channel")
    for _, label in COLUMNS:
        table.add_column(label, justify="right")
    table.add_column("suppressed", justify="right")
    suppressed_by_channel: dict[str, int] = {}
    for (channel, _reason), count in report.suppressed.items():
        suppressed_by_channel[channel] = suppressed_by_channel.get(channel, 0) + count
    channels = sorted(set(report.dispatch.channels) | set(suppressed_by_channel))
    for channel in channels:
        tally = report.dispatch.tally(channel).as_dict()
        table.add_row(escape(channel), *(str(tally[key]) for key, _ in COLUMNS),
                      str(suppressed_by_channel.get(channel, 0)))
    console.print(table)
    for channel, why in sorted(report.dispatch.paused.items()):
        console.print(f"[yellow]paused[/yellow] {escape(channel)}: {escape(why)}; its actions stay pending")
    now = [f for f in report.dispatch.failures if not f.earlier]
    earlier = [f for f in report.dispatch.failures if f.earlier]
    labels = {"ambiguous": "held", "interrupted": "held", "transient": "failed (retried next run)"}
    for failure in now[:50]:
        label = labels.get(failure.kind, "failed")
        console.print(f"[red]{label}[/red] {escape(failure.account_id)} {escape(failure.action)} "
                      f"({escape(failure.channel)}): {escape(failure.error)}", highlight=False)
    if len(now) > 50:
        console.print(f"... and {len(now) - 50} more failures of this run: policy-engine ledger failed")
    if earlier:
        console.print(f"{len(earlier)} action(s) failed in an earlier run and were not retried "
                      "(policy-engine ledger failed; ledger requeue KEY to send again)")


def _exit_on_configuration_problems(missing: dict[str, list[str]], problems: list[str]) -> None:
    for channel, keys in missing.items():
        env = setting_env_var(channel, keys[0].split("|")[0])
        wanted = ", ".join(key.replace("|", " or ") for key in keys)
        typer.echo(f"error: channel '{channel}' is not configured: set {wanted} under "
                   f"[channels.{channel}] in the config file (--config), or e.g. {env}", err=True)
    for problem in problems:
        typer.echo(f"error: {problem}", err=True)
    if missing or problems:
        typer.echo("nothing was sent", err=True)
        raise typer.Exit(ExitCode.USAGE)


@app.command()
def run(
    policy: PolicyOption,
    accounts: AccountsOption,
    history: HistoryOption = None,
    as_of: AsOfOption = None,
    ledger_url: Annotated[str, typer.Option("--ledger", help="Ledger database URL.")] = "sqlite:///policy-engine.db",
    config: Annotated[Path | None, typer.Option("--config", help="Channel settings (TOML); default "
                                                "policy-engine.toml when present.")] = None,
    rejects: RejectsOption = None,
    output_format: Annotated[TableFormat, choice_option(
        TableFormat, "--format", help="The run summary as a table for people, or JSON.")] = TableFormat.TABLE,
    rehearsal: Annotated[bool, typer.Option(
        "--rehearsal", help="Rehearse against test sinks: dispatch's clock starts at --as-of instead of now, so "
        "send times and windows are judged as if the run happened then. Never against real gateways.")] = False,
    backend: BatchBackendOption = BATCH_BACKEND_CHOICE,
) -> None:
    """Decide, then send every planned action exactly once through the channel plugins (exit 7 when some
    action failed permanently or was held in this run)."""
    loaded = load_policy_or_exit(policy)
    moment = parse_as_of(as_of, loaded)
    if rehearsal and as_of is None:
        raise UsageError("--rehearsal needs --as-of: the instant the rehearsal pretends to run at")
    engine = Engine(loaded, backend)
    config = check_config(config)
    registry = get_registry()
    _exit_on_configuration_problems(unconfigured_channels(loaded.policy, registry, config),
                                    settings_problems(loaded.policy, registry, config))
    ledger = open_ledger_or_exit(ledger_url)
    console = Console(stderr=True)
    bars: Any = _ProgressBars(console) if stderr_is_terminal() else None
    try:
        with Rejects(rejects) as rejected:
            index = history_with_ledger(load_history(history, rejected), ledger)
            stream = read_accounts(accounts, rejects=rejected)
            clock = rehearsal_clock(moment) if rehearsal else None
            if bars is not None:
                with bars:
                    report = run_batch(engine, stream, index, moment, ledger=ledger, registry=registry,
                                       config=config, clock=clock, progress=bars)
            else:
                report = run_batch(engine, stream, index, moment, ledger=ledger, registry=registry, config=config,
                                   clock=clock)
            rejected.report(limit=20)
    finally:
        ledger.close()
    if output_format == TableFormat.JSON:
        typer.echo(json.dumps(report.as_dict(), indent=2, ensure_ascii=False))
    else:
        # piped to a file, the table keeps every column instead of squeezing to 80 characters
        _print_report(report, Console() if sys.stdout.isatty() else Console(width=200))
    if report.failed_now:
        raise typer.Exit(ExitCode.ACTIONS_FAILED)
