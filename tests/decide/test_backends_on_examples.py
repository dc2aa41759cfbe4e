"""Both rule backends give byte-identical explained decisions for every shipped policy on the example portfolio."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import pytest

from policy_engine.data.history import HistoryIndex
from policy_engine.data.readers import read_accounts
from policy_engine.decide.engine import Engine
from policy_engine.policy.loader import load_policy

ROOT = Path(__file__).resolve().parents[2]
PORTFOLIO = ROOT / "examples" / "portfolio"
POLICIES = sorted(p for p in (ROOT / "policies" / "examples").glob("*.toml") if not p.name.endswith("_test.toml"))


@pytest.mark.parametrize("policy", POLICIES, ids=lambda p: p.stem)
def test_compiled_and_durable_agree_on_the_example_portfolio(policy: Path) -> None:
    loaded = load_policy(policy)
    history = HistoryIndex.load([PORTFOLIO / "history.jsonl"])
    accounts = list(read_accounts(PORTFOLIO / "accounts.jsonl"))
    as_of = datetime.fromisoformat("2026-11-28T09:00:00+08:00")
    outputs = []
    for backend in ("compiled", "durable"):
        engine = Engine(loaded, backend)
        outputs.append([json.dumps(engine.decide(a, history.for_account(a.account_id), as_of, explain=True)
                                   .to_dict(explain=True), sort_keys=True) for a in accounts])
    assert len(outputs[0]) == 300
    assert outputs[0] == outputs[1]
    assert any('"in_scope": false' not in line and '"actions": [{' in line for line in outputs[0])
