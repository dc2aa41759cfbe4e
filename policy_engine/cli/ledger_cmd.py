"""`policy-engine ledger failed|requeue|history`: the ledger as an operator and an auditor use it.

- ``ledger failed [--channel C]``: every failed or held dispatch (what failed, when, why, how often tried);
- ``ledger requeue KEY... | --failed [--channel C]``: put failed or held dispatches back to pending so the
  next run sends them; the attempt log keeps a ``requeued`` entry, nothing is deleted;
- ``ledger history ACCOUNT``: every decision, dispatch, attempt and history event of one account, in
  time order, as a table or ``--format json`` (what a regulator asks for).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from policy_engine._exceptions import ExitCode, UsageError
from policy_engine.cli.app import app
from policy_engine.cli.options import TextFormat, TextFormatOption
from policy_engine.ledger import open_ledger

ledger_app = typer.Typer(help="The ledger: failed dispatches, requeue them, one account's full history.",
                         no_args_is_help=True)
app.add_typer(ledger_app, name="ledger")

LedgerOption = Annotated[
    str | None,
    typer.Option("--ledger", help="Ledger URL (default $POLICY_ENGINE_LEDGER_URL or sqlite:///policy-engine.db)."),
]
ChannelOption = Annotated[str | None, typer.Option("--channel", help="Only this channel.")]


def _dump(data: Any) -> None:
    typer.echo(json.dumps(data, indent=2, ensure_ascii=False, default=str))


@ledger_app.command("failed")
def failed(channel: ChannelOption = None, ledger: LedgerOption = None,
           output_format: TextFormatOption = TextFormat.TEXT) -> None:
    """List failed and held dispatches (oldest first)."""
    with open_ledger(ledger) as opened:
        rows = opened.list_failed(channel)
    if output_format == TextFormat.JSON:
        _dump(rows)
        raise typer.Exit(ExitCode.OK)
    table = Table(title=f"{len(rows)} failed or held dispatch{'es' if len(rows) != 1 else ''}")
    for column in ("key", "account", "action", "channel", "state", "failure", "tries", "updated", "error"):
        table.add_column(column)
    for row in rows:
        table.add_row(*(escape(str(row.get(name) or "")) for name in (
            "idempotency_key", "account_id", "action", "channel", "state", "failure", "attempts", "updated_at")),
            escape(str(row.get("last_error") or ""))[:160])
    Console().print(table)
    raise typer.Exit(ExitCode.OK)


@ledger_app.command("requeue")
def requeue(
    keys: Annotated[list[str] | None, typer.Argument(help="Idempotency keys to send again.")] = None,
    all_failed: Annotated[bool, typer.Option("--failed", help="Every failed or held dispatch (with --channel: "
                                             "of that channel).")] = False,
    channel: ChannelOption = None,
    ledger: LedgerOption = None,
    by: Annotated[str, typer.Option("--by", help="Who requeues (kept in the attempt log).")] = "operator",
) -> None:
    """Put failed or held dispatches back to pending so the next run sends them (nothing is deleted)."""
    if bool(keys) == all_failed:
        raise UsageError("give idempotency keys, or --failed (optionally with --channel), not both")
    if channel and not all_failed:
        raise UsageError("--channel goes with --failed")
    with open_ledger(ledger) as opened:
        wanted = opened.failed_keys(channel) if all_failed else list(keys or [])
        changed = opened.requeue_many(wanted, by=by)
    for key in changed:
        typer.echo(f"requeued {key}")
    missing = [key for key in wanted if key not in set(changed)]
    for key in missing:
        typer.echo(f"not requeued {key}: no failed or held dispatch has this key", err=True)
    typer.echo(f"{len(changed)} requeued; the next run sends them")
    raise typer.Exit(ExitCode.USAGE if missing and not changed else ExitCode.OK)


def account_record(opened: Any, account_id: str) -> dict[str, Any]:
    """Everything the ledger holds about one account, in time order per kind."""
    return {
        "account_id": account_id,
        "decisions": list(opened.iter_decisions(account_id)),
        "dispatches": opened.list_dispatches(account_id=account_id),
        "attempts": opened.list_attempts(account_id=account_id),
        "history": list(opened.iter_history(account_id)),
    }


@ledger_app.command("history")
def history(
    account: Annotated[str, typer.Argument(help="The account id.")],
    ledger: LedgerOption = None,
    output_format: TextFormatOption = TextFormat.TEXT,
) -> None:
    """Every decision, dispatch, attempt and history event of one account."""
    with open_ledger(ledger) as opened:
        record = account_record(opened, account)
    if output_format == TextFormat.JSON:
        _dump(record)
        raise typer.Exit(ExitCode.OK)
    if not any(record[part] for part in ("decisions", "dispatches", "history")):
        typer.echo(f"the ledger holds nothing about account {account!r}", err=True)
        raise typer.Exit(ExitCode.OK)
    rows = _history_rows(record)
    table = Table(title=f"account {escape(account)}")
    for column in ("at", "what", "of", "outcome"):
        table.add_column(column)
    for row in sorted(rows, key=lambda item: item[0]):
        table.add_row(*(escape(cell) for cell in row))
    Console().print(table)
    raise typer.Exit(ExitCode.OK)


_Row = tuple[str, str, str, str]
"""One line of an account's history table: at, what, of what, outcome."""


def _history_rows(record: Mapping[str, Any]) -> list[_Row]:
    """The table rows of an account's record, each part in its own words (not yet sorted by time)."""
    return [*map(_decision_row, record["decisions"]), *map(_dispatch_row, record["dispatches"]),
            *map(_attempt_row, record["attempts"]), *map(_event_row, record["history"])]


def _decision_row(decision: Mapping[str, Any]) -> _Row:
    planned = ", ".join(f"{a.get('action')} ({a.get('channel')})" for a in decision.get("actions") or [])
    suppressed = ", ".join(f"{s.get('action')}: {s.get('reason')}" for s in decision.get("suppressed") or [])
    where = f"stage {decision.get('stage')}, dpd {decision.get('dpd')}"
    return str(decision.get("as_of")), "decision", where, f"planned {planned or '-'}; suppressed {suppressed or '-'}"


def _dispatch_row(dispatch: Mapping[str, Any]) -> _Row:
    outcome = (f"{dispatch['state']}" + (f" [{dispatch['failure']}]" if dispatch.get("failure") else "")
               + (f": {dispatch['last_error']}" if dispatch.get("last_error") else ""))
    return str(dispatch["created_at"]), "dispatch", f"{dispatch['action']} ({dispatch['channel']})", outcome


def _attempt_row(attempt: Mapping[str, Any]) -> _Row:
    return (str(attempt["started_at"]), "attempt", f"#{attempt['attempt']} {attempt['idempotency_key'][:12]}",
            f"{attempt['status']}" + (f": {attempt['detail']}" if attempt.get("detail") else ""))


def _event_row(event: Mapping[str, Any]) -> _Row:
    what = event.get("channel") or ""
    return (str(event.get("at")), str(event.get("type")), f"{what} {event.get('action') or ''}".strip(),
            str(event.get("outcome") or event.get("amount") or ""))
