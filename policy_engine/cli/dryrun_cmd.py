"""`policy-engine dry-run` and `policy-engine explain`: decide without sending anything."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from policy_engine._exceptions import InputError
from policy_engine.cli.app import EXIT_INPUT_UNUSABLE, EXIT_USAGE, app
from policy_engine.cli.common import fail, load_history, load_policy_or_exit, parse_as_of, stderr_is_terminal
from policy_engine.cli.table import print_explanation, print_table
from policy_engine.data.readers import Rejects, read_accounts
from policy_engine.data.records import Account
from policy_engine.decide.decision import Decision
from policy_engine.decide.engine import Engine
from policy_engine.decide.rules import BACKENDS, DEFAULT_BACKEND
from policy_engine.lifecycle.output import FORMATS, write_decisions

PolicyOpt = Annotated[Path, typer.Option("--policy", "-p", help="Policy TOML file.")]
AccountsOpt = Annotated[str, typer.Option("--accounts", "-a", help="Accounts: .jsonl, .csv, .parquet or - (stdin).")]
HistoryOpt = Annotated[Path | None, typer.Option("--history", help="History events (.jsonl/.csv/.parquet).")]
AsOfOpt = Annotated[str | None, typer.Option("--as-of", help="ISO 8601 instant; default: now.")]
RejectsOpt = Annotated[Path | None, typer.Option("--rejects", help="Write rejected input rows here (JSON Lines).")]


def _with_progress(rows: Iterator[tuple[Account, Decision]], enabled: bool) -> Iterator[tuple[Account, Decision]]:
    if not enabled:
        yield from rows
        return
    with Progress(TextColumn("evaluating"), BarColumn(), TextColumn("{task.completed} accounts"),
                  TimeElapsedColumn(), console=Console(stderr=True), transient=True) as progress:
        task = progress.add_task("accounts", total=None)
        for row in rows:
            progress.advance(task)
            yield row


def _open_accounts(path: str, rejected: Rejects) -> Iterator[Account]:
    """The account stream; exit 5 when the file cannot be used at all."""
    try:
        return read_accounts(path, rejects=rejected)
    except InputError as exc:
        raise fail(f"error: {exc}", EXIT_INPUT_UNUSABLE) from None


@app.command("dry-run")
def dry_run(
    policy: PolicyOpt,
    accounts: AccountsOpt,
    history: HistoryOpt = None,
    as_of: AsOfOpt = None,
    fmt: Annotated[str, typer.Option("--format", "-f", help="table, json, jsonl or csv.")] = "table",
    output: Annotated[Path | None, typer.Option("--output", "-o", help="Write here instead of stdout.")] = None,
    backend: Annotated[str, typer.Option("--backend", help="compiled or durable.")] = DEFAULT_BACKEND,
    explain: Annotated[bool, typer.Option("--explain", help="Add the trace of every rule and guardrail.")] = False,
    rejects: RejectsOpt = None,
    strict_input: Annotated[bool, typer.Option("--strict-input", help="Exit 5 if any row is rejected.")] = False,
    limit: Annotated[int, typer.Option("--limit", help="Accounts shown in the table.")] = 200,
) -> None:
    """Decide what to do for every account, and print the plan without sending anything."""
    if fmt not in FORMATS:
        raise fail(f"error: --format must be one of {', '.join(FORMATS)}, not '{fmt}'", EXIT_USAGE)
    if backend not in BACKENDS:
        raise fail(f"error: --backend must be one of {', '.join(BACKENDS)}, not '{backend}'", EXIT_USAGE)
    loaded = load_policy_or_exit(policy)
    moment = parse_as_of(as_of, loaded)
    engine = Engine(loaded, backend)
    with Rejects(rejects) as rejected:
        index = load_history(history, rejected)
        stream = _open_accounts(accounts, rejected)
        rows = _with_progress(engine.decide_many(stream, index, moment, explain), enabled=stderr_is_terminal())
        out: IO[str] = open(output, "w", encoding="utf-8", newline="") if output else sys.stdout  # noqa: SIM115
        try:
            if fmt == "table":
                console = Console(file=out, width=None if out.isatty() else 160)
                print_table(rows, console, limit)
            else:
                write_decisions((d for _, d in rows), fmt, out, explain)
        except InputError as exc:
            raise fail(f"error: {exc}", EXIT_INPUT_UNUSABLE) from None
        finally:
            if output:
                out.close()
        rejected.report(limit=20)
        if strict_input and rejected.count:
            raise fail(f"error: {rejected.count} input rows rejected (--strict-input)", EXIT_INPUT_UNUSABLE)


@app.command()
def explain(
    policy: PolicyOpt,
    accounts: AccountsOpt,
    account: Annotated[str, typer.Option("--account", help="The account_id to explain.")],
    history: HistoryOpt = None,
    as_of: AsOfOpt = None,
    backend: Annotated[str, typer.Option("--backend", help="compiled or durable.")] = DEFAULT_BACKEND,
) -> None:
    """Explain, as a readable tree, why one account gets each action today and why not the others."""
    loaded = load_policy_or_exit(policy)
    moment = parse_as_of(as_of, loaded)
    engine = Engine(loaded, backend)
    with Rejects(None) as rejected:
        index = load_history(history, rejected)
        try:
            found = next((a for a in _open_accounts(accounts, rejected) if a.account_id == account), None)
        except InputError as exc:
            raise fail(f"error: {exc}", EXIT_INPUT_UNUSABLE) from None
    if found is None:
        raise fail(f"error: account '{account}' is not in {accounts}", EXIT_INPUT_UNUSABLE)
    decision = engine.decide(found, index.for_account(account), moment, explain=True)
    print_explanation(decision, found, Console())
