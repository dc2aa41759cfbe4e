"""`policy-engine report`: one self-contained HTML file about a policy and its effect on a portfolio."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from policy_engine._exceptions import UsageError
from policy_engine.cli.app import app
from policy_engine.cli.common import load_history, load_policy_or_exit, parse_as_of
from policy_engine.cli.options import AccountsOption, AsOfOption, HistoryOption, PolicyOption, RejectsOption
from policy_engine.data.readers import Rejects, read_accounts
from policy_engine.decide.engine import Engine
from policy_engine.lifecycle.report import build_report

__all__ = ["report_command"]


@app.command("report")
def report_command(
    policy: PolicyOption,
    accounts: AccountsOption,
    output: Annotated[Path, typer.Option("--output", "-o", help="The HTML file to write.")],
    history: HistoryOption = None,
    as_of: AsOfOption = None,
    days: Annotated[int | None, typer.Option(
        "--days", min=1, help="Simulate N days from --as-of instead of one decision.")] = None,
    candidate: Annotated[Path | None, typer.Option(
        "--candidate", help="A second policy, shown side by side.")] = None,
    sample: Annotated[int, typer.Option("--sample", min=0, help="Accounts whose timelines are shown.")] = 6,
    rejects: RejectsOption = None,
) -> None:
    """Write one self-contained HTML report: portfolio, channels per day, suppressions, offers, timelines."""
    loaded = load_policy_or_exit(policy)
    engines = [Engine(loaded)]
    if candidate is not None:
        engines.append(Engine(load_policy_or_exit(candidate)))
    moment = parse_as_of(as_of, loaded)
    with Rejects(rejects) as rejected:
        index = load_history(history, rejected)
        page = build_report(engines, read_accounts(accounts, rejects=rejected), index, moment, days, sample)
        rejected.report(limit=20)
    try:
        output.write_text(page, encoding="utf-8")
    except OSError as error:
        raise UsageError(f"cannot write {output} ({error.strerror or error})") from None
    typer.echo(f"wrote {output} ({len(page.encode('utf-8')) // 1024} KiB)", err=True)
