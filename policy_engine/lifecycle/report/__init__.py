"""`policy-engine report`: one self-contained HTML page about a policy (or a policy and a candidate).

Library use::

    from policy_engine.lifecycle.report import build_report
    html = build_report([Engine(load_policy("bank.toml"))], accounts, history, as_of, days=30)

The modules: :mod:`.collect` gathers the numbers, :mod:`.limits` lists the limits in force and who set
them, :mod:`.provenance` says how the report was made, :mod:`.svg` draws the charts, :mod:`.page` lays
out the HTML. The same inputs (and the same ``SOURCE_DATE_EPOCH``) always give the same bytes.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from policy_engine.data.history import HistoryIndex
from policy_engine.data.records import Account
from policy_engine.decide.engine import Engine
from policy_engine.lifecycle.report.collect import PolicyReport, TimelineRow, collect_reports
from policy_engine.lifecycle.report.page import render_page
from policy_engine.lifecycle.report.provenance import InputFile, Provenance, describe_input, generation_time

__all__ = ["InputFile", "PolicyReport", "Provenance", "TimelineRow", "build_report", "collect_reports",
           "describe_input", "generation_time", "render_page"]


def build_report(engines: list[Engine], accounts: Iterable[Account], history: HistoryIndex | None,
                 as_of: datetime, days: int | None = None, sample: int = 6,
                 provenance: Provenance | None = None) -> str:
    """The HTML report of ``engines[0]`` (with ``engines[1]`` as the candidate, side by side)."""
    return render_page(collect_reports(engines, accounts, history, as_of, days, sample), provenance)
