"""`policy-engine queue list|claim|complete`: the agent task queue kept in the ledger."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer

from policy_engine._exceptions import ExitCode, UsageError
from policy_engine.cli.app import app
from policy_engine.cli.common import open_ledger_or_exit
from policy_engine.cli.options import TextFormat, TextFormatOption
from policy_engine.ledger import COMPLETION_OUTCOMES, AgentQueue

queue_app = typer.Typer(help="Agent tasks: list, claim and complete them.", no_args_is_help=True)
app.add_typer(queue_app, name="queue")

LedgerOption = Annotated[
    str | None,
    typer.Option("--ledger", help="Ledger URL (default $POLICY_ENGINE_LEDGER_URL or sqlite:///policy-engine.db)."),
]


def _line(task: dict[str, Any]) -> str:
    who = f" by {task['claimed_by']}" if task.get("claimed_by") else ""
    outcome = f" -> {task['outcome']}" if task.get("outcome") else ""
    return (f"#{task['id']} {task['state']}{who}{outcome}  account {task['account_id']}  "
            f"action {task['action']}  {task['message'][:60]!r}")


@queue_app.command("list")
def list_tasks(
    state: Annotated[str, typer.Option("--state", help="open, claimed, done or all.")] = "open",
    ledger: LedgerOption = None,
    output_format: TextFormatOption = TextFormat.TEXT,
) -> None:
    """Show agent tasks (open ones unless --state says otherwise)."""
    if state not in ("open", "claimed", "done", "all"):
        raise UsageError(f"--state must be open, claimed, done or all, not '{state}'")
    with open_ledger_or_exit(ledger) as opened:
        tasks = AgentQueue(opened).list(None if state == "all" else state)
    if output_format == TextFormat.JSON:
        typer.echo(json.dumps(tasks, indent=2, ensure_ascii=False, default=str))
    else:
        for task in tasks:
            typer.echo(_line(task))
        typer.echo(f"{len(tasks)} task{'s' if len(tasks) != 1 else ''}")
    raise typer.Exit(ExitCode.OK)


@queue_app.command("claim")
def claim_task(
    agent: Annotated[str, typer.Option("--agent", help="Who takes the task.")],
    task: Annotated[int | None, typer.Option("--task", help="A task id (default: the oldest open task).")] = None,
    ledger: LedgerOption = None,
    output_format: TextFormatOption = TextFormat.TEXT,
) -> None:
    """Take an open task inside its window whose call the caps still allow; exit 1 when there is none.

    The window and the caps are those the run decided the task with (kept in the task), counted again
    with every contact the ledger recorded since: a task is never handed out outside its window, nor
    when another call or a conversation since the run means the customer may not be called now.
    """
    with open_ledger_or_exit(ledger) as opened:
        claimed = AgentQueue(opened).claim_or_refusal(agent, task)
    if not isinstance(claimed, dict):
        if isinstance(claimed, str):
            typer.echo(f"no task may be worked now: {claimed}", err=True)
        else:
            typer.echo("no open task to claim" if task is None else f"task {task} is not open", err=True)
        raise typer.Exit(ExitCode.RUNTIME_FAILURE)
    typer.echo(json.dumps(claimed, indent=2, ensure_ascii=False, default=str)
               if output_format == TextFormat.JSON else _line(claimed))
    raise typer.Exit(ExitCode.OK)


@queue_app.command("complete")
def complete_task(
    task: Annotated[int, typer.Argument(help="The task id.")],
    agent: Annotated[str, typer.Option("--agent", help="The agent who claimed it.")],
    outcome: Annotated[str, typer.Option("--outcome", help=", ".join(COMPLETION_OUTCOMES))],
    note: Annotated[str | None, typer.Option("--note", help="What was agreed or said.")] = None,
    ledger: LedgerOption = None,
) -> None:
    """Close a claimed task; its outcome goes into the history as a contact event."""
    if outcome not in COMPLETION_OUTCOMES:
        raise UsageError(f"--outcome must be one of {', '.join(COMPLETION_OUTCOMES)}")
    with open_ledger_or_exit(ledger) as opened:
        done = AgentQueue(opened).complete(task, agent=agent, outcome=outcome, note=note)
    typer.echo(_line(done))
    raise typer.Exit(ExitCode.OK)
