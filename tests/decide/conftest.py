"""Helpers for engine tests: write a policy, build accounts and history, decide."""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from policy_engine.data.records import Account, HistoryEvent
from policy_engine.decide.decision import Decision
from policy_engine.decide.engine import Engine
from policy_engine.policy.loader import load_policy

Decide = Callable[..., Decision]

TEMPLATES = """
[templates.t."en-US"]
body = "Hello"
[templates.t."zh-CN"]
body = "您好"
[templates.t."en-GB"]
body = "Hello"
"""


def account(**fields: Any) -> Account:
    """An account with sensible defaults: delinquent, every contact point, every consent."""
    data: dict[str, Any] = {
        "account_id": "A1", "balance": 5000, "delinquent_since": "2026-10-29",
        "contact": {"phone": "+15550100", "email": "a@example.com", "address": "1 Main St"},
        "consent": {"sms": True, "email": True, "voice": True},
    }
    data.update(fields)
    return Account.model_validate(data)


def event(type_: str, at: str, **fields: Any) -> HistoryEvent:
    """A history event of account A1."""
    return HistoryEvent.model_validate({"account_id": "A1", "type": type_, "at": at, **fields})


def contact(at: str, channel: str, outcome: str = "no_answer", **fields: Any) -> HistoryEvent:
    """A contact event of account A1."""
    return event("contact", at, channel=channel, outcome=outcome, **fields)


@pytest.fixture
def decide(tmp_path: Path) -> Decide:
    """decide(policy_toml, account, history, as_of, backend='compiled') -> Decision."""

    def run(policy_toml: str, acct: Account, history: list[HistoryEvent], as_of: str,
            backend: str = "compiled", explain: bool = False) -> Decision:
        path = tmp_path / "policy.toml"
        path.write_text(textwrap.dedent(policy_toml) + TEMPLATES, encoding="utf-8")
        loaded = load_policy(path)
        return Engine(loaded, backend).decide(acct, history, datetime.fromisoformat(as_of), explain)

    return run


def planned(d: Decision) -> list[str]:
    """Ids of the planned actions."""
    return sorted(a.action for a in d.actions)


def reasons(d: Decision) -> dict[str, str]:
    """action id -> suppression reason."""
    return {s.action: s.reason for s in d.suppressed}
