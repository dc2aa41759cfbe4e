"""`policy-engine run`: evaluate, persist, dispatch through the channel plugins, record outcomes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from policy_engine._exceptions import InputError, LedgerError, PluginError
from policy_engine.cli.app import EXIT_INPUT_UNUSABLE, EXIT_USAGE, app
from policy_engine.cli.common import fail, load_history, load_policy_or_exit, parse_as_of
from policy_engine.cli.dryrun_cmd import AccountsOpt, AsOfOpt, HistoryOpt, PolicyOpt, RejectsOpt, _open_accounts
from policy_engine.data.readers import Rejects
from policy_engine.decide.engine import Engine
from policy_engine.deliver.registry import get_registry
from policy_engine.deliver.run import RunReport, history_with_ledger, run_batch, unconfigured_channels
from policy_engine.deliver.settings import setting_env_var
from policy_engine.ledger import open_ledger

EXIT_RUNTIME = 1


def _print_report(report: RunReport, console: Console) -> None:
    table = Table(title=f"run summary: {report.accounts} accounts")
    for col in ("channel", "sent", "failed", "already sent", "scheduled later", "suppressed"):
        table.add_column(col, justify="right" if col != "channel" else "left")
    suppressed_by_channel: dict[str, int] = {}
    for (channel, _reason), n in report.suppressed.items():
        suppressed_by_channel[channel] = suppressed_by_channel.get(channel, 0) + n
    data = report.dispatch.as_dict()
    channels = sorted(set(data.get("channels", {})) | set(suppressed_by_channel))
    for ch in channels:
        t = data.get("channels", {}).get(ch, {})
        table.add_row(ch, str(t.get("sent", 0)), str(t.get("failed", 0)), str(t.get("skipped", 0)),
                      str(t.get("deferred", 0)), str(suppressed_by_channel.get(ch, 0)))
    console.print(table)
    for failure in report.dispatch.failures[:50]:
        console.print(f"[red]failed[/red] {failure.account_id} {failure.action} ({failure.channel}): "
                      f"{escape(failure.error)}")


@app.command()
def run(
    policy: PolicyOpt,
    accounts: AccountsOpt,
    history: HistoryOpt = None,
    as_of: AsOfOpt = None,
    ledger_url: Annotated[str, typer.Option("--ledger", help="Ledger database URL.")] = "sqlite:///policy-engine.db",
    config: Annotated[Path | None, typer.Option("--config", help="Channel settings (TOML); default "
                                                "policy-engine.toml when present.")] = None,
    rejects: RejectsOpt = None,
    fmt: Annotated[str, typer.Option("--format", help="table or json summary.")] = "table",
) -> None:
    """Decide, then send every planned action exactly once through the channel plugins."""
    loaded = load_policy_or_exit(policy)
    moment = parse_as_of(as_of, loaded)
    engine = Engine(loaded)
    if config is None and Path("policy-engine.toml").is_file():
        config = Path("policy-engine.toml")
    try:
        registry = get_registry()
        missing = unconfigured_channels(loaded.policy, registry, config)
    except PluginError as exc:
        raise fail(f"error: {exc}", EXIT_RUNTIME) from None
    if missing:
        for channel, keys in missing.items():
            env = setting_env_var(channel, keys[0].split("|")[0])
            wanted = ", ".join(k.replace("|", " or ") for k in keys)
            typer.echo(f"error: channel '{channel}' is not configured: set {wanted} under "
                       f"[channels.{channel}] in the config file (--config), or e.g. {env}", err=True)
        raise fail("nothing was sent", EXIT_USAGE)
    try:
        ledger = open_ledger(ledger_url)
    except LedgerError as exc:
        raise fail(f"error: {exc}", EXIT_RUNTIME) from None
    try:
        with Rejects(rejects) as rejected:
            index = history_with_ledger(load_history(history, rejected), ledger)
            stream = _open_accounts(accounts, rejected)
            try:
                report = run_batch(engine, stream, index, moment, ledger=ledger, registry=registry, config=config)
            except InputError as exc:
                raise fail(f"error: {exc}", EXIT_INPUT_UNUSABLE) from None
            except (PluginError, LedgerError) as exc:
                raise fail(f"error: {exc}", EXIT_RUNTIME) from None
            rejected.report(limit=20)
    finally:
        ledger.close()
    if fmt == "json":
        typer.echo(json.dumps(report.as_dict(), indent=2, ensure_ascii=False))
    else:
        _print_report(report, Console())
