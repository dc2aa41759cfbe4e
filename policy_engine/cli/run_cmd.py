"""`policy-engine run`: evaluate, persist, dispatch through the channel plugins, record outcomes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from policy_engine._exceptions import ExitCode
from policy_engine.cli.app import app
from policy_engine.cli.common import (
    check_config,
    load_history,
    load_policy_or_exit,
    open_ledger_or_exit,
    parse_as_of,
)
from policy_engine.cli.options import (
    AccountsOption,
    AsOfOption,
    HistoryOption,
    PolicyOption,
    RejectsOption,
    TableFormat,
    choice_option,
)
from policy_engine.data.readers import Rejects, read_accounts
from policy_engine.decide.engine import Engine
from policy_engine.deliver.registry import get_registry
from policy_engine.deliver.run import RunReport, history_with_ledger, run_batch, unconfigured_channels
from policy_engine.deliver.settings import setting_env_var


def _print_report(report: RunReport, console: Console) -> None:
    table = Table(title=f"run summary: {report.accounts} accounts")
    for column in ("channel", "sent", "failed", "already sent", "scheduled later", "suppressed"):
        table.add_column(column, justify="right" if column != "channel" else "left")
    suppressed_by_channel: dict[str, int] = {}
    for (channel, _reason), count in report.suppressed.items():
        suppressed_by_channel[channel] = suppressed_by_channel.get(channel, 0) + count
    dispatched = report.dispatch.as_dict()
    channels = sorted(set(dispatched.get("channels", {})) | set(suppressed_by_channel))
    for channel in channels:
        tally = dispatched.get("channels", {}).get(channel, {})
        table.add_row(channel, str(tally.get("sent", 0)), str(tally.get("failed", 0)), str(tally.get("skipped", 0)),
                      str(tally.get("deferred", 0)), str(suppressed_by_channel.get(channel, 0)))
    console.print(table)
    for failure in report.dispatch.failures[:50]:
        console.print(f"[red]failed[/red] {failure.account_id} {failure.action} ({failure.channel}): "
                      f"{escape(failure.error)}")


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
) -> None:
    """Decide, then send every planned action exactly once through the channel plugins."""
    loaded = load_policy_or_exit(policy)
    moment = parse_as_of(as_of, loaded)
    engine = Engine(loaded)
    config = check_config(config)
    registry = get_registry()
    missing = unconfigured_channels(loaded.policy, registry, config)
    if missing:
        for channel, keys in missing.items():
            env = setting_env_var(channel, keys[0].split("|")[0])
            wanted = ", ".join(key.replace("|", " or ") for key in keys)
            typer.echo(f"error: channel '{channel}' is not configured: set {wanted} under "
                       f"[channels.{channel}] in the config file (--config), or e.g. {env}", err=True)
        typer.echo("nothing was sent", err=True)
        raise typer.Exit(ExitCode.USAGE)
    ledger = open_ledger_or_exit(ledger_url)
    try:
        with Rejects(rejects) as rejected:
            index = history_with_ledger(load_history(history, rejected), ledger)
            stream = read_accounts(accounts, rejects=rejected)
            report = run_batch(engine, stream, index, moment, ledger=ledger, registry=registry, config=config)
            rejected.report(limit=20)
    finally:
        ledger.close()
    if output_format == TableFormat.JSON:
        typer.echo(json.dumps(report.as_dict(), indent=2, ensure_ascii=False))
    else:
        _print_report(report, Console())
