"""A person's call is a call: the queue hands out a task only inside its window and while the caps its
decision applied still allow the call; completing it records the call with its real outcome."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from policy_engine.data.history import HistoryIndex
from policy_engine.data.records import Account, HistoryEvent
from policy_engine.decide.engine import Engine
from policy_engine.ledger import AgentQueue, Ledger
from policy_engine.policy.loader import load_policy

NOW = datetime(2026, 11, 28, 15, 0, tzinfo=UTC)
ROOT = Path(__file__).resolve().parents[2]


def _ledger(tmp_path: Path, moment: datetime = NOW) -> Ledger:
    return Ledger.open(f"sqlite:///{tmp_path / 'l.db'}", clock=lambda: moment)


def _task(queue: AgentQueue, key: str, **window: datetime) -> int:
    task_id, _ = queue.create(idempotency_key=key, account_id="A1", action="hardship_outreach", channel="agent",
                              message="Call patiently", **window)
    return task_id


def test_a_task_is_never_handed_out_outside_its_window(tmp_path: Path) -> None:
    queue = AgentQueue(_ledger(tmp_path))
    closed = _task(queue, "t-closed", not_before=NOW - timedelta(hours=9), not_after=NOW - timedelta(minutes=1))
    later = _task(queue, "t-later", not_before=NOW + timedelta(hours=1), not_after=NOW + timedelta(hours=5))
    assert queue.claim("alice") is None
    assert "closed" in str(queue.claim_or_refusal("alice", closed))
    assert "opens" in str(queue.claim_or_refusal("alice", later))
    open_now = _task(queue, "t-open", not_before=NOW - timedelta(hours=1), not_after=NOW + timedelta(hours=5))
    claimed = queue.claim("alice")
    assert claimed is not None and claimed["id"] == open_now


def test_claim_counts_the_caps_again_with_the_contacts_recorded_since_the_run(tmp_path: Path) -> None:
    ledger = _ledger(tmp_path)
    queue = AgentQueue(ledger)
    mark = ledger.history_mark()
    limits = {"timezone": "America/New_York", "mark": mark, "decision_keys": ["t-1"], "rules": [
        {"rule": "frequency_cap", "channels": ["agent", "voice"], "excluding": [], "days": 7, "max": 3,
         "conversations": False, "counted": 2},
        {"rule": "after_conversation", "channels": ["agent", "voice"], "days": 7}]}
    task_id, _ = queue.create(idempotency_key="t-1", account_id="A1", action="hardship_outreach", channel="agent",
                              message="Call", limits=limits)
    assert queue.refusal(queue.get(task_id) or {}, NOW) is None  # 2 of 3 calls: the call may be made
    ledger.append_history([{"account_id": "A1", "at": (NOW - timedelta(hours=1)).isoformat(), "type": "contact",
                            "channel": "voice", "outcome": "no_answer", "action": "mid_call"}])
    refusal = queue.claim_or_refusal("alice")
    assert isinstance(refusal, str) and "cap of 3 on agent/voice in 7 days" in refusal
    assert queue.get(task_id)["state"] == "open"  # type: ignore[index]


def test_claim_counts_the_daily_cap_again_but_not_the_decisions_own_actions(tmp_path: Path) -> None:
    """The daily cap counts the contacts recorded since the run, except those of the task's own decision
    (already counted when it was made)."""
    ledger = _ledger(tmp_path)
    queue = AgentQueue(ledger)
    limits = {"timezone": "America/New_York", "mark": ledger.history_mark(), "decision_keys": ["t-1", "t-own"],
              "rules": [{"rule": "daily_cap", "excluding": [], "max": 2, "counted": 1}]}
    task_id, _ = queue.create(idempotency_key="t-1", account_id="A1", action="hardship_outreach", channel="agent",
                              message="Call", limits=limits)
    earlier = (NOW - timedelta(hours=1)).isoformat()
    ledger.append_history([{"account_id": "A1", "at": earlier, "type": "contact", "channel": "sms",
                            "outcome": "delivered", "action": "reminder_sms", "idempotency_key": "t-own"}])
    assert queue.refusal(queue.get(task_id) or {}, NOW) is None  # the decision's own sms: counted already
    ledger.append_history([{"account_id": "A1", "at": earlier, "type": "contact", "channel": "email",
                            "outcome": "delivered", "action": "reminder_email"}])
    refusal = queue.claim_or_refusal("alice")
    assert refusal == f"task {task_id}: the daily cap of 2 contacts is reached (1 since the run)"
    assert queue.get(task_id)["state"] == "open"  # type: ignore[index]


def test_a_conversation_since_the_run_refuses_the_call(tmp_path: Path) -> None:
    ledger = _ledger(tmp_path)
    queue = AgentQueue(ledger)
    limits = {"timezone": "UTC", "mark": ledger.history_mark(), "decision_keys": [],
              "rules": [{"rule": "after_conversation", "channels": None, "days": 7}]}
    queue.create(idempotency_key="t-2", account_id="A1", action="x", channel="agent", message="m", limits=limits)
    ledger.append_history([{"account_id": "A1", "at": NOW.isoformat(), "type": "contact", "channel": "agent",
                            "outcome": "conversation", "task_action": "other"}])
    assert "conversation on 2026-11-28" in str(queue.claim_or_refusal("bob"))


def test_a_completed_conversation_pauses_voice_calls_the_next_day_and_counts_as_a_call(tmp_path: Path) -> None:
    ledger = _ledger(tmp_path)
    queue = AgentQueue(ledger)
    task_id = _task(queue, "t-conv")
    assert queue.claim("alice") is not None
    queue.complete(task_id, agent="alice", outcome="conversation", note="agreed a plan")
    (event,) = list(ledger.iter_history("A1"))
    assert event["outcome"] == "conversation" and event["channel"] == "agent" and "counts_as_attempt" not in event
    loaded = load_policy(ROOT / "policies" / "examples" / "us-card-issuer.toml")
    engine = Engine(loaded)
    account = Account.model_validate({
        "account_id": "A1", "region": "US", "timezone": "America/New_York", "balance": "2000.00",
        "delinquent_since": "2026-10-10", "language": "en-US",
        "contact": {"phone": "+12125550100", "email": "a1@example.com", "address": "1 Main St, Albany NY"},
        "consent": {"sms": True, "email": True, "voice": True}})
    validation = {"account_id": "A1", "at": "2026-10-12T15:00:00+00:00", "type": "contact", "channel": "letter",
                  "outcome": "delivered", "action": "validation_letter", "notice": "validation_notice"}
    next_day = datetime(2026, 11, 29, 15, 0, tzinfo=UTC)  # 10:00 in New York, the day after the conversation
    without = engine.decide(account, [HistoryEvent.model_validate(validation)], next_day)
    assert {a.channel for a in without.actions} >= {"voice", "agent"}  # calls would go out...
    history = HistoryIndex.from_events([HistoryEvent.model_validate(e)
                                        for e in [validation, *ledger.iter_history("A1")]])
    decision = engine.decide(account, history.for_account("A1"), next_day)
    calls = [s for s in decision.suppressed if s.channel in ("voice", "agent")]
    # ...but the conversation the agent recorded starts Reg F's 7-day pause for every call
    assert {s.channel for s in calls} == {"voice", "agent"}
    assert all(s.reason == "frequency_cap" and "conversation on 2026-11-28" in s.detail for s in calls)
    assert not [a for a in decision.actions if a.channel in ("voice", "agent")]
