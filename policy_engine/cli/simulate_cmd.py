"""`policy-engine simulate`: run a policy over N days, assuming every action is delivered."""

from __future__ import annotations

import sys
from collections import Counter
from collections.abc import Iterable, Iterator
from datetime import date, datetime, time
from itertools import groupby
from pathlib import Path
from typing import IO, Annotated

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from policy_engine._exceptions import InputError
from policy_engine.cli.app import EXIT_INPUT_UNUSABLE, EXIT_USAGE, app
from policy_engine.cli.common import fail, load_history, load_policy_or_exit
from policy_engine.cli.dryrun_cmd import AccountsOpt, HistoryOpt, PolicyOpt, RejectsOpt
from policy_engine.data.readers import Rejects, read_accounts
from policy_engine.data.records import Account, HistoryEvent
from policy_engine.decide.engine import Engine
from policy_engine.decide.rules import BACKENDS, DEFAULT_BACKEND
from policy_engine.lifecycle.simulate import DEFAULT_AT, SimEvent, simulate, write_contacts

__all__ = ["open_accounts", "print_timeline", "simulate_command"]

SIM_FORMATS = ("jsonl", "timeline")
ROUTINE = frozenset({"cadence", "already_sent"})  # suppressions a timeline leaves to the footer


def open_accounts(path: str, rejected: Rejects) -> Iterator[Account]:
    """The account stream; exit 5 when the file cannot be used at all."""
    try:
        return read_accounts(path, rejects=rejected)
    except InputError as exc:
        raise fail(f"error: {exc}", EXIT_INPUT_UNUSABLE) from None


def parse_start(value: str) -> date:
    """``--start``: a calendar date YYYY-MM-DD; exit 2 otherwise."""
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise fail(f"error: --start '{value}' is not a date (YYYY-MM-DD)", EXIT_USAGE) from None


def parse_at(value: str) -> time:
    """``--at``: a wall-clock time HH:MM; exit 2 otherwise."""
    try:
        parsed = datetime.strptime(value, "%H:%M")
    except ValueError:
        raise fail(f"error: --at '{value}' is not a time of day (HH:MM, e.g. 09:00)", EXIT_USAGE) from None
    return parsed.time()


def _event_text(e: HistoryEvent) -> str:
    parts: list[str] = [e.type]
    if e.channel:
        parts.append(e.channel)
    if e.amount is not None:
        parts.append(str(e.amount))
    if e.outcome:
        parts.append(f"({e.outcome})")
    return " ".join(parts)


def _timeline_table(steps: list[SimEvent]) -> Table:
    first = steps[0]
    decision = first.decision
    title = (f"account {first.account.account_id} — policy {decision.policy.get('id')} "
             f"{decision.policy.get('version') or ''}, evaluated daily at {first.as_of.strftime('%H:%M %Z')}")
    if decision.variant:
        title += f", variant {decision.variant}"
    table = Table(title=title, title_justify="left", show_lines=False)
    for col in ("day", "date", "dpd", "stage", "history", "contacts", "not sent"):
        table.add_column(col, overflow="fold")
    previous: tuple[object, ...] | None = None
    for step in steps:
        d = step.decision
        notable = [s for s in d.suppressed if s.reason not in ROUTINE]
        key = (d.stage, d.segment, tuple(d.holds), d.dpd == 0, tuple((s.action, s.reason) for s in notable))
        if previous == key and not step.contacts and not step.arrived:
            continue
        previous = key
        contacts = Text()
        for c in step.contacts:
            if contacts:
                contacts.append("\n")
            contacts.append(f"{c.planned.action} via {c.planned.channel} {c.event.at.strftime('%H:%M')}",
                            style="green")
            contacts.append(f" → {c.event.outcome}" + (" (recorded)" if c.recorded else ""), style="dim")
        not_sent = "\n".join(f"{s.action}: {s.reason}" for s in notable)
        stage = d.stage or "-"
        if d.holds:
            stage += f" [holds: {', '.join(d.holds)}]"
        table.add_row(str(step.day + 1), step.date.isoformat(), str(d.dpd), stage,
                      "\n".join(_event_text(e) for e in step.arrived), contacts, not_sent)
    return table


def _footer(steps: list[SimEvent]) -> str:
    channels = Counter(c.planned.channel for s in steps for c in s.contacts)
    reasons = Counter(x.reason for s in steps for x in s.decision.suppressed)
    made = ", ".join(f"{k} {v}" for k, v in sorted(channels.items())) or "none"
    held = ", ".join(f"{k} {v}" for k, v in sorted(reasons.items())) or "none"
    return f"{sum(channels.values())} contacts ({made}); suppressed: {held}"


def print_timeline(steps: Iterable[SimEvent], console: Console) -> int:
    """Print a per-account timeline of the days something happened; return the number of contacts made."""
    total = 0
    for _, group in groupby(steps, key=lambda s: s.account.account_id):
        days = list(group)
        console.print(_timeline_table(days))
        console.print(_footer(days), style="dim")
        console.print()
        total += sum(len(s.new_events) for s in days)
    return total


def _counting(steps: Iterator[SimEvent], counts: Counter[str]) -> Iterator[SimEvent]:
    for step in steps:
        counts["days"] += 1
        counts["accounts"] += step.day == 0
        for c in step.contacts:
            counts[f"channel:{c.planned.channel}"] += 1
        yield step


@app.command("simulate")
def simulate_command(
    policy: PolicyOpt,
    accounts: AccountsOpt,
    start: Annotated[str, typer.Option("--start", help="First simulated local date (YYYY-MM-DD).")],
    days: Annotated[int, typer.Option("--days", min=1, help="How many days to simulate.")],
    history: HistoryOpt = None,
    at: Annotated[str, typer.Option("--at", help="Local time of the daily evaluation (HH:MM).")] = "09:00",
    output: Annotated[Path | None, typer.Option("--output", "-o", help="Write here, not stdout.")] = None,
    fmt: Annotated[str, typer.Option("--format", "-f", help="jsonl (history events) or timeline.")] = "jsonl",
    backend: Annotated[str, typer.Option("--backend", help="compiled or durable.")] = DEFAULT_BACKEND,
    rejects: RejectsOpt = None,
    strict_input: Annotated[bool, typer.Option("--strict-input", help="Exit 5 on a rejected row.")] = False,
) -> None:
    """Simulate the policy day by day; write every contact as a history event (feed it back as --history)."""
    if fmt not in SIM_FORMATS:
        raise fail(f"error: --format must be one of {', '.join(SIM_FORMATS)}, not '{fmt}'", EXIT_USAGE)
    if backend not in BACKENDS:
        raise fail(f"error: --backend must be one of {', '.join(BACKENDS)}, not '{backend}'", EXIT_USAGE)
    first_day = parse_start(start)
    clock = parse_at(at) if at else DEFAULT_AT
    loaded = load_policy_or_exit(policy)
    engine = Engine(loaded, backend)
    counts: Counter[str] = Counter()
    with Rejects(rejects) as rejected:
        index = load_history(history, rejected)
        stream = open_accounts(accounts, rejected)
        steps = _counting(simulate(engine, stream, index, first_day, days, clock), counts)
        out: IO[str] = open(output, "w", encoding="utf-8", newline="") if output else sys.stdout  # noqa: SIM115
        try:
            if fmt == "timeline":
                print_timeline(steps, Console(file=out, width=None if out.isatty() else 160))
            else:
                write_contacts(steps, out)
        except InputError as exc:
            raise fail(f"error: {exc}", EXIT_INPUT_UNUSABLE) from None
        finally:
            if output:
                out.close()
        rejected.report(limit=20)
        per_channel = ", ".join(f"{k.split(':', 1)[1]} {v}" for k, v in sorted(counts.items()) if ":" in k)
        made = sum(v for k, v in counts.items() if ":" in k)
        typer.echo(f"simulated {counts['accounts']} accounts over {days} days: "
                   f"{made} contacts ({per_channel or 'none'})", err=True)
        if strict_input and rejected.count:
            raise fail(f"error: {rejected.count} input rows rejected (--strict-input)", EXIT_INPUT_UNUSABLE)
