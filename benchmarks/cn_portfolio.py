"""A generated mainland-China card portfolio of any size, as JSON Lines (deterministic for a seed).

    .venv/bin/python benchmarks/cn_portfolio.py --accounts 200000 --folder /tmp/cn-200k

Writes ``accounts.jsonl`` (one CN account per line, in the record format of the policy guide) and
``history.jsonl`` (about 3.4 events per account: contacts carrying the action ids of
policies/examples/cn-card-issuer.toml, payments, promises, a few consent and dispute events), all before
:data:`AS_OF`. DPD runs from 0 to 200 days, so every stage of the CN policy is populated; about 3% of the
accounts carry a hold flag, a few lack a contact point, e-mail consent is given, refused or unknown.

Standard library only, written one line at a time (about 25 s for a million accounts).
"""

from __future__ import annotations

import argparse
import json
import random
from collections.abc import Iterator
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Final

AS_OF: Final = datetime(2026, 11, 28, 8, 0, tzinfo=timezone(timedelta(hours=8)))
"""The moment every benchmark decides at: 08:00 in Shanghai, before the CN policy's contact hours."""
SEED: Final = 20261201
SHANGHAI: Final = timezone(timedelta(hours=8))  # no DST in mainland China: a fixed offset is exact
EVENT_COUNTS: Final = (0, 1, 2, 3, 3, 4, 4, 5, 5, 7)  # mean 3.4 events per account
FLAGS: Final = ("dispute", "hardship", "deceased", "bankruptcy", "attorney", "cease_contact")

# The CN policy's recurring actions by DPD range: (first DPD, last DPD, [(action id, channel), ...]).
STAGE_ACTIONS: Final = (
    (1, 29, (("early_sms", "sms"), ("early_email", "email"), ("early_voice", "voice"),
             ("early_care_call", "agent"))),
    (30, 59, (("mid_call", "voice"), ("mid_sms", "sms"), ("mid_agent_explain", "agent"))),
    (60, 89, (("late_call", "voice"), ("late_sms", "sms"), ("late_rate_reduction", "agent"))),
    (90, 10_000, (("pre_legal_call", "voice"), ("pre_legal_agent", "agent"))),
)
OUTCOMES: Final = {"sms": ("sent", "delivered", "failed"), "email": ("sent", "delivered"),
                   "voice": ("no_answer", "no_answer", "voicemail", "conversation"),
                   "agent": ("conversation", "no_answer")}


def _stage_actions(dpd: int) -> tuple[tuple[str, str], ...]:
    for first, last, actions in STAGE_ACTIONS:
        if first <= dpd <= last:
            return actions
    return ()


def _account(index: int, rng: random.Random) -> tuple[dict[str, Any], int]:
    """One account record, and its DPD at :data:`AS_OF`."""
    dpd = rng.randint(0, 200)
    balance = round(rng.uniform(500, 80_000), 2)
    account_id = f"CN-{index:07d}"
    contact: dict[str, Any] = {}
    if rng.random() > 0.02:
        contact["phone"] = f"+86138{rng.randint(0, 99_999_999):08d}"
    if rng.random() > 0.1:
        contact["email"] = f"cn{index}@example.com"
    if rng.random() > 0.05:
        contact["address"] = f"上海市浦东新区示例路{rng.randint(1, 999)}号"
    consent: dict[str, Any] = {"sms": True, "voice": True}
    email_consent = rng.random()
    if email_consent < 0.6:
        consent["email"] = True
    elif email_consent < 0.7:
        consent["email"] = False
    record: dict[str, Any] = {
        "account_id": account_id,
        "customer_id": f"C-{account_id}",
        "region": "CN",
        "timezone": "Asia/Shanghai",
        "currency": "CNY",
        "balance": balance,
        "amount_past_due": round(balance * rng.uniform(0.05, 0.3), 2),
        "minimum_due": round(balance * 0.05, 2),
        "delinquent_since": (AS_OF.date() - timedelta(days=dpd)).isoformat(),
        "credit_score": rng.randint(350, 850),
        "prior_delinquencies": rng.choice((0, 0, 0, 1, 1, 2, 3, 4)),
        "product": rng.choice(("classic", "gold", "platinum")),
        "language": "zh-CN",
        "contact": contact,
        "consent": consent,
    }
    if rng.random() < 0.03:
        record["flags"] = {rng.choice(FLAGS): True}
    if rng.random() < 0.01:
        record["attributes"] = {"serious_illness": True}
    return record, dpd


def _moment(day: date, rng: random.Random) -> str:
    at = datetime(day.year, day.month, day.day, rng.randint(9, 19), rng.choice((0, 15, 30, 45)), tzinfo=SHANGHAI)
    return at.isoformat()


def _events(account_id: str, dpd: int, rng: random.Random) -> list[dict[str, Any]]:
    """The history of one account, in time order."""
    today = AS_OF.date()
    actions = _stage_actions(dpd) or STAGE_ACTIONS[0][2]
    events: list[tuple[str, dict[str, Any]]] = []
    for _ in range(rng.choice(EVENT_COUNTS)):
        day = today - timedelta(days=rng.randint(1, min(max(dpd, 1), 30)))
        at = _moment(day, rng)
        kind = rng.random()
        if kind < 0.78:
            action, channel = rng.choice(actions)
            events.append((at, {"account_id": account_id, "at": at, "type": "contact", "channel": channel,
                                "outcome": rng.choice(OUTCOMES[channel]), "action": action}))
        elif kind < 0.90:
            events.append((at, {"account_id": account_id, "at": at, "type": "payment",
                                "amount": round(rng.uniform(100, 3000), 2)}))
        elif kind < 0.97:
            due = day + timedelta(days=rng.randint(2, 14))
            events.append((at, {"account_id": account_id, "at": at, "type": "promise",
                                "amount": round(rng.uniform(500, 5000), 2), "due": due.isoformat()}))
        elif kind < 0.99:
            events.append((at, {"account_id": account_id, "at": at, "type": "consent", "channel": "email",
                                "granted": rng.random() < 0.5}))
        else:
            events.append((at, {"account_id": account_id, "at": at, "type": "dispute_opened"}))
    return [event for _, event in sorted(events, key=lambda pair: pair[0])]


def portfolio(accounts: int, seed: int = SEED) -> Iterator[tuple[dict[str, Any], list[dict[str, Any]]]]:
    """Each generated account with its history events."""
    rng = random.Random(seed)
    for index in range(1, accounts + 1):
        record, dpd = _account(index, rng)
        yield record, _events(record["account_id"], dpd, rng)


def write_portfolio(folder: Path, accounts: int, seed: int = SEED) -> tuple[Path, Path]:
    """Write ``accounts.jsonl`` and ``history.jsonl`` into ``folder`` (reused when already complete)."""
    folder.mkdir(parents=True, exist_ok=True)
    accounts_file, history_file, done = folder / "accounts.jsonl", folder / "history.jsonl", folder / "complete"
    if done.exists() and done.read_text() == f"{accounts} {seed}\n":
        return accounts_file, history_file
    with accounts_file.open("w", encoding="utf-8") as account_out, \
            history_file.open("w", encoding="utf-8") as history_out:
        for record, events in portfolio(accounts, seed):
            account_out.write(json.dumps(record, ensure_ascii=False) + "\n")
            history_out.writelines(json.dumps(event) + "\n" for event in events)
    done.write_text(f"{accounts} {seed}\n")
    return accounts_file, history_file


def main() -> int:
    """Write a portfolio of ``--accounts`` accounts into ``--folder``."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--accounts", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=SEED)
    parser.add_argument("--folder", type=Path, required=True)
    args = parser.parse_args()
    accounts_file, history_file = write_portfolio(args.folder, args.accounts, args.seed)
    print(accounts_file, history_file)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
