"""`policy-engine diff`: the impact of replacing one policy by another, as a rich table or JSON."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from policy_engine.cli.app import app
from policy_engine.cli.common import load_history, load_policy_or_exit, output_stream, parse_as_of, report_rejects
from policy_engine.cli.console import cell, note, plural, stdout_console, written
from policy_engine.cli.options import (
    BATCH_BACKEND_CHOICE,
    ROW_ENGINE_DECIDES,
    AccountsOption,
    AsOfOption,
    BatchBackendOption,
    HistoryOption,
    OutputOption,
    RejectsOption,
    TextFormat,
    TextFormatOption,
)
from policy_engine.data.readers import Rejects, read_accounts
from policy_engine.decide.engine import Engine
from policy_engine.lifecycle.diff import DiffResult, Tally, diff_policies

if TYPE_CHECKING:
    from rich.console import Console
    from rich.table import Table

__all__ = ["diff_command", "print_diff"]


def _delta(before: int, after: int) -> str:
    change = after - before
    if change == 0:
        return "[dim]0[/dim]"
    return f"[green]+{change}[/green]" if change > 0 else f"[red]{change}[/red]"


def _name(stamp: dict[str, str | None]) -> str:
    return f"{stamp.get('id')} {stamp.get('version') or ''}".strip()


def _impact_table(result: DiffResult) -> Table:
    from rich.table import Table  # noqa: PLC0415

    base, candidate = result.base_tally, result.candidate_tally
    span = f" over {plural(result.days, 'day')}" if result.days else f" at {result.as_of.isoformat()}"
    table = Table(title=cell(f"Impact of {_name(result.candidate)} against {_name(result.base)}{span}"),
                  title_justify="left")
    for column in ("", "base", "candidate", "change", "added / new", "removed / lifted"):
        table.add_column(column, justify="left" if not column else "right")
    table.add_row("accounts compared", str(result.accounts), str(result.accounts), "", "", "")
    table.add_row("accounts whose actions change", "", "", str(len(result.changes)), "", "")
    table.add_row("accounts contacted", str(base.accounts_contacted), str(candidate.accounts_contacted),
                  _delta(base.accounts_contacted, candidate.accounts_contacted), "", "")
    for channel in sorted(set(base.contacts) | set(candidate.contacts)):
        table.add_row(cell(f"contacts: {channel}"), str(base.contacts[channel]), str(candidate.contacts[channel]),
                      _delta(base.contacts[channel], candidate.contacts[channel]),
                      str(result.contacts_added[channel]), str(result.contacts_removed[channel]))
    table.add_row("legal referrals", str(base.legal_referrals), str(candidate.legal_referrals),
                  _delta(base.legal_referrals, candidate.legal_referrals), "", "")
    for offer in sorted(set(base.offers) | set(candidate.offers)):
        table.add_row(cell(f"offers made: {offer}"), str(base.offers[offer]), str(candidate.offers[offer]),
                      _delta(base.offers[offer], candidate.offers[offer]), "", "")
    for reason in sorted(set(base.suppressed) | set(candidate.suppressed)):
        table.add_row(cell(f"suppressed: {reason}"), str(base.suppressed[reason]), str(candidate.suppressed[reason]),
                      _delta(base.suppressed[reason], candidate.suppressed[reason]),
                      str(result.new_suppressions[reason]), str(result.lifted_suppressions[reason]))
    return table


def _weekly_table(result: DiffResult) -> Table:
    from rich.table import Table  # noqa: PLC0415

    base, candidate = result.base_tally.weekly, result.candidate_tally.weekly
    channels = sorted({channel for week in (*base.values(), *candidate.values()) for channel in week})
    table = Table(title="Contacts per channel per week (base → candidate)", title_justify="left",
                  min_width=60)
    table.add_column("week", justify="right")
    for channel in channels:
        table.add_column(channel, justify="right")
    empty: Counter[str] = Counter()
    for week in sorted(set(base) | set(candidate)):
        base_week, candidate_week = base.get(week, empty), candidate.get(week, empty)
        table.add_row(str(week), *(f"{base_week[channel]} → {candidate_week[channel]}" for channel in channels))
    return table


def _variant_table(side: str, tallies: dict[str, Tally]) -> Table:
    from rich.table import Table  # noqa: PLC0415

    table = Table(title=f"Variants of the {side} policy", title_justify="left")
    for column in ("variant", "accounts", "contacted", "contacts per channel", "suppressions"):
        table.add_column(column, overflow="fold")
    for variant, tally in sorted(tallies.items()):
        table.add_row(cell(variant), str(tally.accounts), str(tally.accounts_contacted),
                      cell(", ".join(f"{channel} {count}" for channel, count in sorted(tally.contacts.items()))
                           or "-"),
                      cell(", ".join(f"{reason} {count}" for reason, count in sorted(tally.suppressed.items()))
                           or "-"))
    return table


def _changes_table(result: DiffResult, limit: int) -> Table:
    from rich.table import Table  # noqa: PLC0415

    table = Table(title="Accounts whose actions change", title_justify="left")
    for column in ("account", "stage (first day)" if result.days else "stage", "added", "removed"):
        table.add_column(column, overflow="fold")
    for change in result.changes[:limit]:
        stage = change.base_stage or "-"
        if change.candidate_stage != change.base_stage:
            stage += f" → {change.candidate_stage or '-'}"
        table.add_row(cell(change.account_id), cell(stage),
                      cell(", ".join(f"{action}×{count}" for action, count in change.added.items())),
                      cell(", ".join(f"{action}×{count}" for action, count in change.removed.items())))
    return table


def print_diff(result: DiffResult, console: Console, limit: int = 50) -> None:
    """Render a diff for people: impact, weekly contacts (span), variants, changed accounts."""
    console.print(cell(f"base      {_name(result.base)}  {result.base.get('digest')}"))
    console.print(cell(f"candidate {_name(result.candidate)}  {result.candidate.get('digest')}"))
    console.print(_impact_table(result))
    if result.days:
        console.print(_weekly_table(result))
    for side, tallies in (("base", result.base_variants), ("candidate", result.candidate_variants)):
        if tallies:
            console.print(_variant_table(side, tallies))
    if result.changes:
        console.print(_changes_table(result, limit))
        if len(result.changes) > limit:
            console.print(f"... {plural(len(result.changes) - limit, 'more changed account')} (use --format json)")
    else:
        console.print("no account's actions change")


@app.command("diff")
def diff_command(
    base: Annotated[Path, typer.Option("--base", metavar="FILE", help="The policy in force (TOML).")],
    candidate: Annotated[Path, typer.Option("--candidate", metavar="FILE", help="The proposed policy (TOML).")],
    accounts: AccountsOption,
    history: HistoryOption = None,
    as_of: AsOfOption = None,
    days: Annotated[int | None, typer.Option("--days", metavar="N", min=1,
                                             help="Compare over N simulated days from --as-of.")] = None,
    output_format: TextFormatOption = TextFormat.TEXT,
    output: OutputOption = None,
    limit: Annotated[int, typer.Option("--limit", metavar="N", min=0,
                                       help="Changed accounts shown in the text output.")] = 50,
    backend: BatchBackendOption = BATCH_BACKEND_CHOICE,
    rejects: RejectsOption = None,
) -> None:
    """Decision-by-decision impact of a candidate policy: changed accounts, contacts, suppressions."""
    base_policy = load_policy_or_exit(base)
    candidate_policy = load_policy_or_exit(candidate)
    engines = Engine(base_policy, backend), Engine(candidate_policy, backend)
    if backend == "spark":
        note(ROW_ENGINE_DECIDES)
    moment = parse_as_of(as_of, base_policy)
    with Rejects(rejects) as rejected:
        index = load_history(history, rejected)
        result = diff_policies(*engines,
                               read_accounts(accounts, rejects=rejected), index, moment, days)
    report_rejects(rejected)
    with output_stream(output) as out:
        if output_format == TextFormat.JSON:
            out.write(json.dumps(result.to_dict(), ensure_ascii=False, indent=2) + "\n")
        else:
            print_diff(result, stdout_console(out), limit)
    written(output, f"the impact ({output_format.value})")
