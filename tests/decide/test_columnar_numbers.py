"""Numbers compare in the plan exactly as the row engine compares them: attribute doubles against decimal
literals (0.7 is not above 0.7, but 0.7 is below 0.70000000000000001), money at 18 places, booleans as 0/1,
integers beyond a double's precision, and values of other types never equal and never ordered."""

from __future__ import annotations

import itertools
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from policy_engine.data.history import HistoryIndex
from policy_engine.data.records import Account
from policy_engine.decide.engine import Engine
from policy_engine.policy import load_policy

LITERALS = ["0.7", "0.70000000000000001", "0.69999999999999999", "0.1", "0.3", "1", "1.0", "3", "0",
            "9007199254740993", "100000000000000000000", "1e-20", "-0.5", "true", "false", '"0.7"']
OPERATORS = ["eq", "ne", "lt", "lte", "gt", "gte"]
ATTRIBUTES: list[Any] = [0.7, 0.1, 0.30000000000000004, 0.3, 1, 1.0, 3, 0, -0.5, True, False, "0.7", None,
                         9007199254740993, 10**20, 1e-20, 0.7000000000000001, 0.6999999999999999, [0.7], {"a": 1}]
BALANCES = ["0.7", "0.1", "0.3", "0.30000000000000004", "1", "0", "0.700000000000000010", "0.69999999999999999",
            "100000000000000000", "0.000000000000000001"]


def _policy(tmp_path: Path) -> Path:
    offers = []
    for index, (fact, op, literal) in enumerate(itertools.product(["attributes.score", "balance"], OPERATORS,
                                                                  LITERALS)):
        if fact == "balance" and literal in ("true", "false", '"0.7"'):
            continue
        offers.append(f'[[offers]]\nid = "o{index}"\nkind = "fee_waiver"\n'
                      f'when = {{ {fact} = {{ {op} = {literal} }} }}\n')
    for index, literal in enumerate(LITERALS):
        offers.append(f'[[offers]]\nid = "in{index}"\nkind = "fee_waiver"\n'
                      f'when = {{ attributes.score = {{ in = [{literal}, 2] }} }}\n')
    path = tmp_path / "numbers.toml"
    path.write_text('[policy]\nid = "numbers"\nversion = "1"\ntimezone = "UTC"\n\n' + "\n".join(offers),
                    encoding="utf-8")
    return path


def test_numbers_compare_alike(tmp_path: Path) -> None:
    loaded = load_policy(_policy(tmp_path))
    accounts = [Account.model_validate({"account_id": f"N{number}", "balance": Decimal(balance),
                                        "attributes": {} if score is None else {"score": score}})
                for number, (score, balance) in enumerate(itertools.product(ATTRIBUTES, BALANCES))]
    as_of = datetime.fromisoformat("2026-11-28T09:00:00+00:00")
    compiled = Engine(loaded, backend="compiled")
    columnar = Engine(loaded, backend="columnar")
    got = list(columnar.decisions(accounts, HistoryIndex(), as_of))
    lines = list(columnar.json_lines(accounts, HistoryIndex(), as_of) or [])
    held = 0
    for account, decision, line in zip(accounts, got, lines, strict=True):
        want = compiled.decide(account, (), as_of)
        assert decision.offers == want.offers, (account.attributes, account.balance,
                                                sorted(set(decision.offers) ^ set(want.offers)))
        assert '"offers": [' + ", ".join(f'"{offer}"' for offer in want.offers) + "]" in line
        held += len(want.offers)
    assert 0 < held < len(accounts) * len(loaded.policy.offers)
