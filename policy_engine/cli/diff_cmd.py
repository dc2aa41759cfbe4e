"""`policy-engine diff`: the impact of replacing one policy by another, as a rich table or JSON."""

from __future__ import annotations

import json
import sys
from collections import Counter
from pathlib import Path
from typing import IO, Annotated

import typer
from rich.console import Console
from rich.table import Table

from policy_engine._exceptions import InputError
from policy_engine.cli.app import EXIT_INPUT_UNUSABLE, EXIT_USAGE, app
from policy_engine.cli.common import fail, load_history, load_policy_or_exit, parse_as_of
from policy_engine.cli.dryrun_cmd import AccountsOpt, AsOfOpt, HistoryOpt, RejectsOpt
from policy_engine.cli.simulate_cmd import open_accounts
from policy_engine.data.readers import Rejects
from policy_engine.decide.engine import Engine
from policy_engine.lifecycle.diff import DiffResult, Tally, diff_policies

__all__ = ["diff_command", "print_diff"]

DIFF_FORMATS = ("table", "json")


def _delta(before: int, after: int) -> str:
    change = after - before
    if change == 0:
        return "[dim]0[/dim]"
    return f"[green]+{change}[/green]" if change > 0 else f"[red]{change}[/red]"


def _name(stamp: dict[str, str | None]) -> str:
    return f"{stamp.get('id')} {stamp.get('version') or ''}".strip()


def _impact_table(r: DiffResult) -> Table:
    b, c = r.base_tally, r.candidate_tally
    span = f" over {r.days} days" if r.days else f" at {r.as_of.isoformat()}"
    table = Table(title=f"Impact of {_name(r.candidate)} against {_name(r.base)}{span}", title_justify="left")
    for col in ("", "base", "candidate", "change", "added / new", "removed / lifted"):
        table.add_column(col, justify="left" if not col else "right")
    table.add_row("accounts compared", str(r.accounts), str(r.accounts), "", "", "")
    table.add_row("accounts whose actions change", "", "", str(len(r.changes)), "", "")
    table.add_row("accounts contacted", str(b.accounts_contacted), str(c.accounts_contacted),
                  _delta(b.accounts_contacted, c.accounts_contacted), "", "")
    for channel in sorted(set(b.contacts) | set(c.contacts)):
        table.add_row(f"contacts: {channel}", str(b.contacts[channel]), str(c.contacts[channel]),
                      _delta(b.contacts[channel], c.contacts[channel]), str(r.contacts_added[channel]),
                      str(r.contacts_removed[channel]))
    table.add_row("legal referrals", str(b.legal_referrals), str(c.legal_referrals),
                  _delta(b.legal_referrals, c.legal_referrals), "", "")
    for offer in sorted(set(b.offers) | set(c.offers)):
        table.add_row(f"offers made: {offer}", str(b.offers[offer]), str(c.offers[offer]),
                      _delta(b.offers[offer], c.offers[offer]), "", "")
    for reason in sorted(set(b.suppressed) | set(c.suppressed)):
        table.add_row(f"suppressed: {reason}", str(b.suppressed[reason]), str(c.suppressed[reason]),
                      _delta(b.suppressed[reason], c.suppressed[reason]), str(r.new_suppressions[reason]),
                      str(r.lifted_suppressions[reason]))
    return table


def _weekly_table(r: DiffResult) -> Table:
    b, c = r.base_tally.weekly, r.candidate_tally.weekly
    channels = sorted({ch for w in (*b.values(), *c.values()) for ch in w})
    table = Table(title="Contacts per channel per week (base → candidate)", title_justify="left",
                  min_width=60)
    table.add_column("week", justify="right")
    for channel in channels:
        table.add_column(channel, justify="right")
    empty: Counter[str] = Counter()
    for week in sorted(set(b) | set(c)):
        wb, wc = b.get(week, empty), c.get(week, empty)
        table.add_row(str(week), *(f"{wb[ch]} → {wc[ch]}" for ch in channels))
    return table


def _variant_table(side: str, tallies: dict[str, Tally]) -> Table:
    table = Table(title=f"Variants of the {side} policy", title_justify="left")
    for col in ("variant", "accounts", "contacted", "contacts per channel", "suppressions"):
        table.add_column(col, overflow="fold")
    for variant, t in sorted(tallies.items()):
        table.add_row(variant, str(t.accounts), str(t.accounts_contacted),
                      ", ".join(f"{k} {v}" for k, v in sorted(t.contacts.items())) or "-",
                      ", ".join(f"{k} {v}" for k, v in sorted(t.suppressed.items())) or "-")
    return table


def _changes_table(r: DiffResult, limit: int) -> Table:
    table = Table(title="Accounts whose actions change", title_justify="left")
    for col in ("account", "stage (first day)" if r.days else "stage", "added", "removed"):
        table.add_column(col, overflow="fold")
    for ch in r.changes[:limit]:
        stage = ch.base_stage or "-"
        if ch.candidate_stage != ch.base_stage:
            stage += f" → {ch.candidate_stage or '-'}"
        table.add_row(ch.account_id, stage, ", ".join(f"{k}×{n}" for k, n in ch.added.items()),
                      ", ".join(f"{k}×{n}" for k, n in ch.removed.items()))
    return table


def print_diff(r: DiffResult, console: Console, limit: int = 50) -> None:
    """Render a diff for people: impact, weekly contacts (span), variants, changed accounts."""
    console.print(f"base      {_name(r.base)}  {r.base.get('digest')}")
    console.print(f"candidate {_name(r.candidate)}  {r.candidate.get('digest')}")
    console.print(_impact_table(r))
    if r.days:
        console.print(_weekly_table(r))
    for side, tallies in (("base", r.base_variants), ("candidate", r.candidate_variants)):
        if tallies:
            console.print(_variant_table(side, tallies))
    if r.changes:
        console.print(_changes_table(r, limit))
        if len(r.changes) > limit:
            console.print(f"... {len(r.changes) - limit} more changed accounts (use --format json)")
    else:
        console.print("no account's actions change")


@app.command("diff")
def diff_command(
    base: Annotated[Path, typer.Option("--base", help="The policy in force (TOML).")],
    candidate: Annotated[Path, typer.Option("--candidate", help="The proposed policy (TOML).")],
    accounts: AccountsOpt,
    history: HistoryOpt = None,
    as_of: AsOfOpt = None,
    days: Annotated[int | None, typer.Option("--days", min=1,
                                             help="Compare over N simulated days from --as-of.")] = None,
    fmt: Annotated[str, typer.Option("--format", "-f", help="table or json.")] = "table",
    output: Annotated[Path | None, typer.Option("--output", "-o", help="Write here, not stdout.")] = None,
    limit: Annotated[int, typer.Option("--limit", help="Changed accounts shown in the table.")] = 50,
    rejects: RejectsOpt = None,
) -> None:
    """Decision-by-decision impact of a candidate policy: changed accounts, contacts, suppressions."""
    if fmt not in DIFF_FORMATS:
        raise fail(f"error: --format must be one of {', '.join(DIFF_FORMATS)}, not '{fmt}'", EXIT_USAGE)
    base_policy = load_policy_or_exit(base)
    candidate_policy = load_policy_or_exit(candidate)
    moment = parse_as_of(as_of, base_policy)
    with Rejects(rejects) as rejected:
        index = load_history(history, rejected)
        try:
            result = diff_policies(Engine(base_policy), Engine(candidate_policy),
                                   open_accounts(accounts, rejected), index, moment, days)
        except InputError as exc:
            raise fail(f"error: {exc}", EXIT_INPUT_UNUSABLE) from None
        rejected.report(limit=20)
    out: IO[str] = open(output, "w", encoding="utf-8", newline="") if output else sys.stdout  # noqa: SIM115
    try:
        if fmt == "json":
            out.write(json.dumps(result.to_dict(), ensure_ascii=False, indent=2) + "\n")
        else:
            print_diff(result, Console(file=out, width=None if out.isatty() else 160), limit)
    finally:
        if output:
            out.close()
