"""The ledger on SQLite and PostgreSQL: migrations, decisions, claims, history, agent tasks."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
import sqlalchemy as sa

from policy_engine._exceptions import LedgerError
from policy_engine.ledger import AgentQueue, Ledger, schema
from policy_engine.ledger.migrations import LATEST_VERSION
from policy_engine.testing import make_action, make_decision


def _decision(*keys: str) -> dict:
    return make_decision("A1", *(make_action("sms", key=k, notice="arrears_notice") for k in keys))


def test_open_applies_migrations_in_order_once(ledger_url: tuple[str, str | None]) -> None:
    url, schema_name = ledger_url
    with Ledger.open(url, schema_name=schema_name) as first:
        assert first.schema_version == LATEST_VERSION
    with Ledger.open(url, schema_name=schema_name) as again:
        with again.engine.connect() as conn:
            versions = [r.version for r in conn.execute(sa.select(schema.schema_version).order_by("version"))]
        assert versions == list(range(1, LATEST_VERSION + 1))


def test_a_newer_schema_is_refused(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'l.db'}"
    with Ledger.open(url) as ledger, ledger.engine.begin() as conn:
        conn.execute(schema.schema_version.insert().values(version=99, description="future", applied_at="x"))
    with pytest.raises(LedgerError, match="newer"):
        Ledger.open(url)


def test_unreachable_database_is_a_ledger_error() -> None:
    with pytest.raises(LedgerError, match="cannot open"):
        Ledger.open("postgresql://nobody:pw@127.0.0.1:1/none")


def test_decision_recorded_once_with_pending_rows(ledger: Ledger) -> None:
    decision = _decision("k1", "k2")
    first = ledger.record_decision(decision)
    assert ledger.record_decision(decision) == first
    assert [d["state"] for d in ledger.list_dispatches()] == ["pending", "pending"]
    assert list(ledger.iter_decisions()) == [decision]


def test_claim_finish_and_history_in_contract_shape(ledger: Ledger) -> None:
    ledger.record_decision(_decision("k1"))
    outcome = ledger.claim("k1", worker="w1", resend_crashed=False)
    assert outcome.claim is not None
    assert ledger.claim("k1", worker="w2", resend_crashed=True).reason == "in_flight"
    event = {"account_id": "A1", "at": "2026-11-28T09:00:00+08:00", "type": "contact", "channel": "sms",
             "outcome": "sent", "action": "sms_action", "notice": "arrears_notice", "idempotency_key": "k1"}
    assert ledger.finish(outcome.claim, state="delivered", provider_id="p-1", event=event)
    assert ledger.claim("k1", worker="w3", resend_crashed=True).reason == "already_sent"
    history = list(ledger.iter_history("A1"))
    assert history == [event]
    assert (ledger.get_dispatch("k1") or {})["provider_id"] == "p-1"


def test_lost_claim_cannot_overwrite(ledger: Ledger) -> None:
    ledger.record_decision(_decision("k1"))
    stale = ledger.claim("k1", worker="w1", lease_seconds=0, resend_crashed=True).claim
    taken = ledger.claim("k1", worker="w2", resend_crashed=True)
    assert stale is not None and taken.claim is not None and taken.claim.resumed
    assert not ledger.finish(stale, state="delivered")
    assert ledger.finish(taken.claim, state="delivered")


def test_interrupted_send_without_provider_dedup_is_flagged_not_resent(ledger: Ledger) -> None:
    ledger.record_decision(_decision("k1"))
    assert ledger.claim("k1", worker="w1", lease_seconds=0, resend_crashed=False).claim is not None
    outcome = ledger.claim("k1", worker="w2", resend_crashed=False)
    assert outcome.claim is None and outcome.state == "failed_permanent"
    assert outcome.reason.startswith("interrupted")
    assert ledger.requeue("k1")
    assert ledger.claim("k1", worker="w3", resend_crashed=False).claim is not None


def test_history_sorted_by_instant_across_offsets(ledger: Ledger) -> None:
    ledger.append_history([
        {"account_id": "A1", "at": "2026-11-28T09:00:00+08:00", "type": "payment", "amount": "10.00"},
        {"account_id": "A1", "at": "2026-11-28T00:30:00+00:00", "type": "contact", "channel": "sms"},
        {"account_id": "B2", "at": "2026-11-27T00:00:00Z", "type": "dispute_opened"},
    ])
    assert [e["type"] for e in ledger.iter_history("A1")] == ["contact", "payment"]  # 00:30Z < 01:00Z
    assert len(list(ledger.iter_history())) == 3
    with pytest.raises(LedgerError, match="offset"):
        ledger.append_history([{"account_id": "A1", "at": "2026-11-28T09:00:00", "type": "payment"}])


def test_concurrent_claims_have_one_winner(ledger_url: tuple[str, str | None]) -> None:
    url, schema_name = ledger_url
    setup = Ledger.open(url, schema_name=schema_name)
    keys = [f"k{i}" for i in range(30)]
    setup.record_decision(_decision(*keys))
    wins: list[list[str]] = [[], [], []]

    def worker(index: int) -> None:
        own = Ledger.open(url, schema_name=schema_name)
        for key in keys:
            if own.claim(key, worker=f"w{index}", resend_crashed=True).claim is not None:
                wins[index].append(key)
        own.close()

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    all_wins = [k for w in wins for k in w]
    assert sorted(all_wins) == sorted(keys)
    setup.close()


def test_agent_queue_claim_and_complete(ledger: Ledger) -> None:
    queue = AgentQueue(ledger)
    task_id, created = queue.create(idempotency_key="t1", account_id="A1", action="courtesy_call",
                                    channel="agent", message="Call patiently")
    assert created and queue.create(idempotency_key="t1", account_id="A1", action="courtesy_call",
                                    channel="agent", message="again") == (task_id, False)
    assert [t["state"] for t in queue.list()] == ["open"]
    claimed = queue.claim("alice")
    assert claimed is not None and claimed["id"] == task_id
    assert queue.claim("bob") is None
    with pytest.raises(LedgerError, match="alice"):
        queue.complete(task_id, agent="bob", outcome="conversation")
    done = queue.complete(task_id, agent="alice", outcome="conversation", note="agreed a plan")
    assert done["state"] == "done"
    (event,) = list(ledger.iter_history("A1"))
    assert event["type"] == "contact" and event["outcome"] == "conversation" and event["channel"] == "agent"


def test_concurrent_runs_recording_the_same_decisions_in_opposite_orders_never_deadlock(
        pg_schema: tuple[str, str]) -> None:
    """Two runs over one portfolio (say one resumed while the other still goes) record the same decisions,
    each in its own order: rows are written in key order, so neither waits for a row the other holds while
    the other waits for one of its own (PostgreSQL would abort one run with a deadlock)."""
    url, schema_name = pg_schema
    decisions = [make_decision(f"ACC-{number:05d}", make_action("sms", key=f"dl-{number:05d}"))
                 for number in range(3000)]
    orders = {"forward": decisions, "backward": decisions[::-1]}
    errors: dict[str, BaseException] = {}
    start = threading.Barrier(len(orders))
    ledgers = {name: Ledger.open(url, schema_name=schema_name) for name in orders}

    def record(name: str) -> None:
        start.wait()
        try:
            ledgers[name].record_decisions(orders[name])
        except BaseException as exc:  # noqa: BLE001  (the test reports it below)
            errors[name] = exc

    try:
        for _round in range(3):
            threads = [threading.Thread(target=record, args=(name,)) for name in orders]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            assert not errors, errors
        assert len(ledgers["forward"].list_dispatches()) == len(decisions)
    finally:
        for opened in ledgers.values():
            opened.close()
