"""Decision JSON read back is the same decision: what dispatch_json parses is what the engine wrote."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from policy_engine import Engine, HistoryIndex, load_policy, read_accounts
from policy_engine.decide.decision import Decision

ROOT = Path(__file__).resolve().parents[2]


def test_every_example_decision_survives_a_json_round_trip() -> None:
    as_of = datetime.fromisoformat("2026-11-28T09:00:00+08:00")
    history = HistoryIndex.load([ROOT / "examples" / "portfolio" / "history.jsonl"])
    seen_actions = 0
    for policy in sorted((ROOT / "policies" / "examples").glob("*-card-issuer.toml")):
        engine = Engine(load_policy(policy))
        for account in read_accounts(ROOT / "examples" / "portfolio" / "accounts.jsonl"):
            decision = engine.decide(account, history.for_account(account.account_id), as_of, explain=True)
            written = decision.to_dict(explain=True)
            assert Decision.from_dict(written).to_dict(explain=True) == written
            seen_actions += len(decision.actions)
    assert seen_actions > 0
