"""`policy-engine dry-run` and `policy-engine explain`: decide without sending anything."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from policy_engine._exceptions import InputError
from policy_engine.cli.app import app
from policy_engine.cli.common import (
    load_history,
    load_policy_or_exit,
    output_stream,
    parse_as_of,
    stderr_is_terminal,
)
from policy_engine.cli.options import (
    DEFAULT_BACKEND_CHOICE,
    AccountsOption,
    AsOfOption,
    BackendOption,
    DecisionFormat,
    HistoryOption,
    PolicyOption,
    RejectsOption,
    choice_option,
)
from policy_engine.cli.table import print_explanation, print_table
from policy_engine.data.readers import Rejects, read_accounts
from policy_engine.data.records import Account
from policy_engine.decide.decision import Decision
from policy_engine.decide.engine import Engine
from policy_engine.lifecycle.output import write_decisions


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


@app.command("dry-run")
def dry_run(
    policy: PolicyOption,
    accounts: AccountsOption,
    history: HistoryOption = None,
    as_of: AsOfOption = None,
    output_format: Annotated[DecisionFormat, choice_option(
        DecisionFormat, "--format", "-f", help="A table for people, or decisions as JSON, JSON Lines or CSV.",
    )] = DecisionFormat.TABLE,
    output: Annotated[Path | None, typer.Option("--output", "-o", help="Write here instead of stdout.")] = None,
    backend: BackendOption = DEFAULT_BACKEND_CHOICE,
    explain: Annotated[bool, typer.Option("--explain", help="Add the trace of every rule and guardrail.")] = False,
    rejects: RejectsOption = None,
    strict_input: Annotated[bool, typer.Option("--strict-input", help="Exit 5 if any row is rejected.")] = False,
    limit: Annotated[int, typer.Option("--limit", help="Accounts shown in the table.")] = 200,
) -> None:
    """Decide what to do for every account, and print the plan without sending anything."""
    loaded = load_policy_or_exit(policy)
    moment = parse_as_of(as_of, loaded)
    engine = Engine(loaded, backend)
    with Rejects(rejects) as rejected:
        index = load_history(history, rejected)
        stream = read_accounts(accounts, rejects=rejected)
        rows = _with_progress(engine.decide_many(stream, index, moment, explain), enabled=stderr_is_terminal())
        with output_stream(output) as out:
            if output_format == DecisionFormat.TABLE:
                print_table(rows, Console(file=out, width=None if out.isatty() else 160), limit)
            else:
                write_decisions((decision for _, decision in rows), output_format, out, explain)
        rejected.report(limit=20)
        if strict_input and rejected.count:
            raise InputError(f"{rejected.count} input rows rejected (--strict-input)")


@app.command()
def explain(
    policy: PolicyOption,
    accounts: AccountsOption,
    account: Annotated[str, typer.Option("--account", help="The account_id to explain.")],
    history: HistoryOption = None,
    as_of: AsOfOption = None,
    backend: BackendOption = DEFAULT_BACKEND_CHOICE,
) -> None:
    """Explain, as a readable tree, why one account gets each action today and why not the others."""
    loaded = load_policy_or_exit(policy)
    moment = parse_as_of(as_of, loaded)
    engine = Engine(loaded, backend)
    with Rejects(None) as rejected:
        index = load_history(history, rejected)
        found = next((candidate for candidate in read_accounts(accounts, rejects=rejected)
                      if candidate.account_id == account), None)
    if found is None:
        raise InputError(f"account '{account}' is not in {accounts}")
    decision = engine.decide(found, index.for_account(account), moment, explain=True)
    print_explanation(decision, found, Console())
