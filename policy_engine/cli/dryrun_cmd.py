"""`policy-engine dry-run`: decide for every account and print the plan, sending nothing."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from policy_engine._exceptions import InputError
from policy_engine.cli.app import app
from policy_engine.cli.common import (
    load_history,
    load_policy_or_exit,
    output_stream,
    parse_as_of,
    report_rejects,
    written,
)
from policy_engine.cli.console import note, plural, stdout_console
from policy_engine.cli.options import (
    BATCH_BACKEND_CHOICE,
    ROW_ENGINE_EXPLAINS,
    AccountsOption,
    AsOfOption,
    BatchBackendOption,
    DecisionFormat,
    HistoryOption,
    OutputOption,
    PolicyOption,
    RejectsOption,
    choice_option,
)
from policy_engine.cli.plan import PlanHeader, print_plan
from policy_engine.cli.progress import count_rows, progress_enabled, with_progress
from policy_engine.data.readers import Rejects, read_accounts
from policy_engine.decide.engine import Engine
from policy_engine.lifecycle.output import write_decisions

__all__ = ["dry_run"]


def _header(engine: Engine, policy: Path, moment_iso: str, accounts: str, history: Path | None) -> PlanHeader:
    from datetime import datetime  # noqa: PLC0415

    actions = [action.id for stage in engine.policy.stages for action in stage.actions]
    channels = sorted({action.channel for stage in engine.policy.stages for action in stage.actions})
    inputs = [("accounts", accounts)] + ([("history", str(history))] if history is not None else [])
    return PlanHeader(engine.loaded.stamp(), str(policy), datetime.fromisoformat(moment_iso), inputs, actions,
                      channels)


@app.command("dry-run")
def dry_run(
    policy: PolicyOption,
    accounts: AccountsOption,
    history: HistoryOption = None,
    as_of: AsOfOption = None,
    output_format: Annotated[DecisionFormat, choice_option(
        DecisionFormat, "--format", "-f",
        help="text: the plan for people (table is the same); json, jsonl or csv: the decisions for programs.",
    )] = DecisionFormat.TEXT,
    output: OutputOption = None,
    backend: BatchBackendOption = BATCH_BACKEND_CHOICE,
    explain: Annotated[bool, typer.Option("--explain", help="Add the trace of every rule and guardrail.")] = False,
    rejects: RejectsOption = None,
    strict_input: Annotated[bool, typer.Option("--strict-input", help="Exit 5 if any row is rejected.")] = False,
    limit: Annotated[int, typer.Option("--limit", metavar="N", min=0,
                                       help="Accounts shown in the text plan (all are counted).")] = 200,
) -> None:
    """Decide what to do for every account, and print the plan without sending anything."""
    loaded = load_policy_or_exit(policy)
    moment = parse_as_of(as_of, loaded)
    engine = Engine(loaded, backend)
    if backend in ("columnar", "spark") and explain:
        note(ROW_ENGINE_EXPLAINS)
    with Rejects(rejects) as rejected:
        streamed = backend == "columnar" and not explain and output_format != DecisionFormat.TEXT
        # the columnar plan reads both files itself (DuckDB, the readers' rejects): no index of the history
        index: Any = () if streamed else load_history(history, rejected)
        if streamed:
            from policy_engine.decide.columnar.inputs import InputFiles  # noqa: PLC0415  (loads DuckDB)

            stream: Any = InputFiles(accounts, None if history is None else str(history), rejected)
        else:
            stream = read_accounts(accounts, rejects=rejected)
        total = count_rows(accounts) if progress_enabled() else None
        with output_stream(output) as out:
            if output_format == DecisionFormat.TEXT:
                rows = with_progress(engine.decide_many(stream, index, moment, explain), total=total)
                count = print_plan(rows, stdout_console(out), limit,
                                   _header(engine, policy, moment.isoformat(), accounts, history)).accounts
            else:
                lines = engine.json_lines(stream, index, moment) \
                    if output_format == DecisionFormat.JSONL and not explain else None
                if lines is not None:  # the columnar plan writes the lines itself
                    count = 0
                    for count, line in enumerate(with_progress(lines, total=total), start=1):  # noqa: B007
                        out.write(line + "\n")
                else:
                    decisions = with_progress(engine.decisions(stream, index, moment, explain), total=total)
                    count = write_decisions(decisions, output_format.value, out, explain).accounts
        report_rejects(rejected)
        written(output, f"{plural(count, 'decision')} ({output_format.value})")
        if strict_input and rejected.count:
            raise InputError(f"{plural(rejected.count, 'input row')} rejected (--strict-input)")
