"""`policy-engine simulate`: run a policy over N days, assuming every action is delivered."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator
from datetime import date, datetime, time
from itertools import groupby
from typing import TYPE_CHECKING, Annotated

import typer

from policy_engine._exceptions import InputError, UsageError
from policy_engine.cli.app import app
from policy_engine.cli.common import load_history, load_policy_or_exit, output_stream, report_rejects
from policy_engine.cli.console import cell, note, plural, stdout_console, written
from policy_engine.cli.options import (
    BATCH_BACKEND_CHOICE,
    ROW_ENGINE_DECIDES,
    AccountsOption,
    BatchBackendOption,
    HistoryOption,
    OutputOption,
    PolicyOption,
    RejectsOption,
    SimulationFormat,
    choice_option,
)
from policy_engine.cli.progress import count_rows, progress_enabled, with_progress
from policy_engine.data.readers import Rejects, read_accounts
from policy_engine.data.records import EARLIEST_DATE, LATEST_DATE, HistoryEvent
from policy_engine.decide.engine import Engine
from policy_engine.lifecycle.simulate import DEFAULT_AT, SimEvent, simulate, write_contacts
from policy_engine.policy.models import MAX_DAYS

if TYPE_CHECKING:
    from rich.console import Console
    from rich.table import Table

__all__ = ["print_timeline", "simulate_command"]

ROUTINE = frozenset({"cadence", "already_sent"})  # suppressions a timeline leaves to the footer


def parse_start(value: str) -> date:
    """``--start``: a calendar date YYYY-MM-DD; exit 2 otherwise."""
    try:
        start = date.fromisoformat(value)
    except ValueError:
        raise UsageError(f"--start '{value}' is not a date (YYYY-MM-DD)") from None
    if not EARLIEST_DATE <= start <= LATEST_DATE:
        raise UsageError(f"--start '{value}' is outside the years {EARLIEST_DATE.year} to {LATEST_DATE.year}")
    return start


def parse_at(value: str) -> time:
    """``--at``: a wall-clock time HH:MM; exit 2 otherwise."""
    try:
        parsed = datetime.strptime(value, "%H:%M")
    except ValueError:
        raise UsageError(f"--at '{value}' is not a time of day (HH:MM, e.g. 09:00)") from None
    return parsed.time()


def _event_text(event: HistoryEvent) -> str:
    parts: list[str] = [event.type]
    if event.channel:
        parts.append(event.channel)
    if event.amount is not None:
        parts.append(str(event.amount))
    if event.outcome:
        parts.append(f"({event.outcome})")
    return " ".join(parts)


def _timeline_table(steps: list[SimEvent]) -> Table:
    from rich.table import Table  # noqa: PLC0415
    from rich.text import Text  # noqa: PLC0415

    first = steps[0]
    first_decision = first.decision
    title = (f"account {first.account.account_id} — policy {first_decision.policy.get('id')} "
             f"{first_decision.policy.get('version') or ''}, evaluated daily at {first.as_of.strftime('%H:%M %Z')}")
    if first_decision.variant:
        title += f", variant {first_decision.variant}"
    table = Table(title=cell(title), title_justify="left", show_lines=False)
    for column in ("day", "date", "dpd", "stage", "history", "contacts", "not sent"):
        table.add_column(column, overflow="fold")
    previous: tuple[object, ...] | None = None
    for step in steps:
        decision = step.decision
        notable = [suppression for suppression in decision.suppressed if suppression.reason not in ROUTINE]
        key = (decision.stage, decision.segment, tuple(decision.holds), decision.dpd == 0,
               tuple((suppression.action, suppression.reason) for suppression in notable))
        if previous == key and not step.contacts and not step.arrived:
            continue
        previous = key
        contacts = Text()
        for contact in step.contacts:
            if contacts:
                contacts.append("\n")
            contacts.append_text(cell(f"{contact.planned.action} via {contact.planned.channel} "
                                      f"{contact.event.at.strftime('%H:%M')}", "green"))
            contacts.append(f" → {contact.event.outcome}" + (" (recorded)" if contact.recorded else ""),
                            style="dim")
        not_sent = "\n".join(f"{suppression.action}: {suppression.reason}" for suppression in notable)
        stage = decision.stage or "-"
        if decision.holds:
            stage += f" (holds: {', '.join(decision.holds)})"
        table.add_row(str(step.day + 1), step.date.isoformat(), str(decision.dpd), cell(stage),
                      Text("\n").join(cell(_event_text(event)) for event in step.arrived), contacts, cell(not_sent))
    return table


def _footer(steps: list[SimEvent]) -> str:
    channels = Counter(contact.planned.channel for step in steps for contact in step.contacts)
    reasons = Counter(suppression.reason for step in steps for suppression in step.decision.suppressed)
    made = ", ".join(f"{channel} {count}" for channel, count in sorted(channels.items())) or "none"
    held = ", ".join(f"{reason} {count}" for reason, count in sorted(reasons.items())) or "none"
    return f"{sum(channels.values())} contacts ({made}); suppressed: {held}"


def print_timeline(steps: Iterable[SimEvent], console: Console) -> int:
    """Print a per-account timeline of the days something happened; return the number of contacts made."""
    total = 0
    for _, group in groupby(steps, key=lambda step: step.account.account_id):
        days = list(group)
        console.print(_timeline_table(days))
        console.print(cell(_footer(days), "dim"))
        console.print()
        total += sum(len(day.new_events) for day in days)
    return total


def _counting(steps: Iterator[SimEvent], counts: Counter[str]) -> Iterator[SimEvent]:
    for step in steps:
        counts["days"] += 1
        counts["accounts"] += step.day == 0
        for contact in step.contacts:
            counts[f"channel:{contact.planned.channel}"] += 1
        yield step


@app.command("simulate")
def simulate_command(
    policy: PolicyOption,
    accounts: AccountsOption,
    start: Annotated[str, typer.Option("--start", metavar="DATE", help="First simulated local date (YYYY-MM-DD).")],
    days: Annotated[int, typer.Option("--days", metavar="N", min=1, max=MAX_DAYS, help="How many days to simulate.")],
    history: HistoryOption = None,
    daily_at: Annotated[str, typer.Option("--at", metavar="HH:MM",
                                          help="Local time of the daily evaluation.")] = "09:00",
    output: OutputOption = None,
    output_format: Annotated[SimulationFormat, choice_option(
        SimulationFormat, "--format", "-f",
        help="jsonl: the contacts as history events; text: a timeline per account (timeline is the same).",
    )] = SimulationFormat.JSONL,
    backend: BatchBackendOption = BATCH_BACKEND_CHOICE,
    rejects: RejectsOption = None,
    strict_input: Annotated[bool, typer.Option("--strict-input", help="Exit 5 on a rejected row.")] = False,
) -> None:
    """Simulate the policy day by day; write every contact as a history event (feed it back as --history)."""
    first_day = parse_start(start)
    if (LATEST_DATE - first_day).days + 1 < days:
        raise UsageError(f"--start {start} with --days {days} runs past {LATEST_DATE}, the last date a history "
                         "event may carry")
    clock = parse_at(daily_at) if daily_at else DEFAULT_AT
    loaded = load_policy_or_exit(policy)
    engine = Engine(loaded, backend)
    if backend == "spark":
        note(ROW_ENGINE_DECIDES)
    counts: Counter[str] = Counter()
    with Rejects(rejects) as rejected:
        index = load_history(history, rejected)
        stream = read_accounts(accounts, rejects=rejected)
        total = count_rows(accounts) if progress_enabled() else None
        steps = _counting(simulate(engine, with_progress(stream, total=total), index, first_day, days, clock),
                          counts)
        with output_stream(output) as out:
            if output_format == SimulationFormat.TEXT:
                print_timeline(steps, stdout_console(out))
            else:
                write_contacts(steps, out)
        report_rejects(rejected)
        per_channel = ", ".join(f"{key.split(':', 1)[1]} {count}" for key, count in sorted(counts.items())
                                if ":" in key)
        made = sum(count for key, count in counts.items() if ":" in key)
        note(f"simulated {plural(counts['accounts'], 'account')} over {plural(days, 'day')}: "
             f"{plural(made, 'contact')} ({per_channel or 'none'})")
        written(output, "the timelines" if output_format == SimulationFormat.TEXT else "the contacts (jsonl)")
        if strict_input and rejected.count:
            raise InputError(f"{plural(rejected.count, 'input row')} rejected (--strict-input)")
