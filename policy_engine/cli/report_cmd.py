"""`policy-engine report`: one self-contained HTML file about a policy and its effect on a portfolio."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from policy_engine import __version__
from policy_engine._exceptions import UsageError
from policy_engine.cli.app import app
from policy_engine.cli.common import REJECTED_ROWS_SHOWN, load_history, load_policy_or_exit, parse_as_of, report_rejects
from policy_engine.cli.console import note
from policy_engine.cli.options import (
    BATCH_BACKEND_CHOICE,
    ROW_ENGINE_DECIDES,
    AccountsOption,
    AsOfOption,
    BatchBackendOption,
    HistoryOption,
    PolicyOption,
    RejectsOption,
)
from policy_engine.data.readers import Rejects, read_accounts
from policy_engine.decide.engine import Engine
from policy_engine.lifecycle.report import Provenance, collect_reports, describe_input, generation_time, render_page
from policy_engine.lifecycle.untrusted import printable

__all__ = ["report_command"]


@app.command("report")
def report_command(
    policy: PolicyOption,
    accounts: AccountsOption,
    output: Annotated[Path, typer.Option("--output", "-o", metavar="FILE", help="The HTML file to write.")],
    history: HistoryOption = None,
    as_of: AsOfOption = None,
    days: Annotated[int | None, typer.Option(
        "--days", metavar="N", min=1, help="Simulate N days from --as-of instead of one decision.")] = None,
    candidate: Annotated[Path | None, typer.Option(
        "--candidate", metavar="FILE", help="A second policy, shown side by side.")] = None,
    sample: Annotated[int, typer.Option("--sample", metavar="N", min=0,
                                        help="Accounts whose timelines are shown.")] = 6,
    backend: BatchBackendOption = BATCH_BACKEND_CHOICE,
    rejects: RejectsOption = None,
) -> None:
    """Write one HTML report for a reviewer: what the policy does to a portfolio, and the limits it keeps.

    The page states how it was made (engine version, time, input files with their SHA-256, rejected rows,
    the assumptions of a simulation), the limits in force with the file and line that set each, the
    portfolio, planned actions per day, the most contacts any customer gets in 7 days, suppressions,
    offers, legal referrals, and sampled timelines. SOURCE_DATE_EPOCH fixes the generation time.
    """
    loaded = load_policy_or_exit(policy)
    engines = [Engine(loaded, backend)]
    if backend == "spark":
        note(ROW_ENGINE_DECIDES)
    if candidate is not None:
        engines.append(Engine(load_policy_or_exit(candidate), backend))
    moment = parse_as_of(as_of, loaded)
    with Rejects(rejects) as rejected:
        index = load_history(history, rejected)
        reports = collect_reports(engines, read_accounts(accounts, rejects=rejected), index, moment, days, sample)
    report_rejects(rejected)
    inputs = [describe_input("policy", policy)]
    if candidate is not None:
        inputs.append(describe_input("candidate policy", candidate))
    inputs.append(describe_input("accounts", accounts))
    if history is not None:
        inputs.append(describe_input("history", history))
    examples = tuple(f"{printable(error.file)}:{error.line}: {printable(error.reason)}"
                     for error in rejected.errors[:REJECTED_ROWS_SHOWN])
    provenance = Provenance(__version__, generation_time(), tuple(inputs), rejected.count, examples, backend.value)
    page = render_page(reports, provenance)
    try:
        output.write_text(page, encoding="utf-8")
    except OSError as error:
        raise UsageError(f"cannot write {output} ({error.strerror or error})") from None
    note(f"wrote {output} ({len(page.encode('utf-8')) // 1024} KiB)")
