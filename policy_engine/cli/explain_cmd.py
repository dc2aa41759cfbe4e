"""`policy-engine explain`: why one account gets each action today, and why not the others."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from policy_engine._exceptions import InputError
from policy_engine.cli.app import app
from policy_engine.cli.common import load_history, load_policy_or_exit, parse_as_of, report_rejects
from policy_engine.cli.console import note, stdout_console
from policy_engine.cli.explanation import print_answer
from policy_engine.cli.options import (
    DEFAULT_BACKEND_CHOICE,
    ROW_ENGINE_EXPLAINS,
    AccountsOption,
    AsOfOption,
    BackendOption,
    HistoryOption,
    PolicyOption,
    TextFormat,
    TextFormatOption,
)
from policy_engine.data.readers import Rejects, read_accounts
from policy_engine.decide.engine import Engine
from policy_engine.lifecycle.answer import answer
from policy_engine.lifecycle.untrusted import printable

__all__ = ["explain"]


@app.command()
def explain(
    policy: PolicyOption,
    accounts: AccountsOption,
    account: Annotated[str, typer.Option("--account", metavar="ID", help="The account_id to explain.")],
    history: HistoryOption = None,
    as_of: AsOfOption = None,
    backend: BackendOption = DEFAULT_BACKEND_CHOICE,
    output_format: TextFormatOption = TextFormat.TEXT,
) -> None:
    """Why one account gets each action today, and why not the others: the answer first, then the whole trace.

    The answer lists what is sent today, each action that is not (its reason, and the day it is next
    allowed if nothing else is sent before), the stage's actions that are not for this account, and the
    kinds of channel this stage has no action for. --format json gives the same, with the decision and
    its trace.
    """
    loaded = load_policy_or_exit(policy)
    moment = parse_as_of(as_of, loaded)
    engine = Engine(loaded, backend)
    if backend in ("columnar", "spark"):
        note(ROW_ENGINE_EXPLAINS)
    with Rejects(None) as rejected:
        index = load_history(history, rejected)
        found = next((candidate for candidate in read_accounts(accounts, rejects=rejected)
                      if candidate.account_id == account), None)
    report_rejects(rejected)
    if found is None:
        raise InputError(f"account '{printable(account)}' is not in {accounts}")
    result = answer(engine, found, index.for_account(account), moment)
    if output_format == TextFormat.JSON:
        typer.echo(json.dumps(result.as_dict(), ensure_ascii=False, indent=2))
    else:
        print_answer(result, found, stdout_console())
