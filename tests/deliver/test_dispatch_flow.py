"""Dispatch with recording channels: exactly-once, retries, failures surfaced, history written."""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from policy_engine.deliver.dispatch import Dispatcher, RetryPolicy
from policy_engine.deliver.templates import TemplateStore
from policy_engine.hookspecs import ChannelSpec, DeliveryResult, hookimpl
from policy_engine.ledger import Ledger
from policy_engine.testing import (
    FAST_RETRY,
    DeliveryRecorder,
    make_action,
    make_decision,
    make_registry,
    run_dispatch,
    sample_account,
)

TEMPLATES = {"early_reminder": "Hello {{ account.account_id }}, you are {{ dpd }} days late ({{ stage }})."}


def test_sends_once_and_rerun_sends_nothing(pe_ledger: Ledger) -> None:
    chat = DeliveryRecorder(channel="chat")
    registry = make_registry(chat)
    decisions = [make_decision(f"A{i}", make_action("chat", template="early_reminder")) for i in range(5)]
    accounts = {f"A{i}": sample_account(f"A{i}") for i in range(5)}
    first = run_dispatch(decisions, accounts, registry=registry, ledger=pe_ledger, templates=TEMPLATES)
    assert first.tally("chat").sent == 5 and not first.failures
    assert chat.texts()[0] == "Hello A0, you are 35 days late (mid)."
    again = run_dispatch(decisions, accounts, registry=registry, ledger=pe_ledger, templates=TEMPLATES)
    assert again.tally("chat").sent == 0 and again.tally("chat").skipped == 5
    assert len(chat.calls) == 5
    events = list(pe_ledger.iter_history())
    assert len(events) == 5
    assert {e["type"] for e in events} == {"contact"} and {e["outcome"] for e in events} == {"sent"}
    assert all(e["at"].endswith("+00:00") for e in events)


def test_transient_failures_are_retried_with_backoff(pe_ledger: Ledger) -> None:
    chat = DeliveryRecorder(channel="chat", transient_failures=2)
    waits: list[float] = []
    dispatcher = Dispatcher(
        ledger=pe_ledger, registry=make_registry(chat), settings={}, sleep=waits.append,
        retry=RetryPolicy(max_attempts=4, base_delay=0.5, multiplier=3, max_delay=1.0),
    )
    action = make_action("chat")
    summary = dispatcher.dispatch_json([make_decision("A1", action)], {"A1": sample_account("A1")})
    assert summary.tally("chat").sent == 1
    assert waits == [0.5, 1.0]  # 0.5, then 1.5 capped at 1.0
    attempts = pe_ledger.list_attempts(action["idempotency_key"])
    assert [a["status"] for a in attempts] == ["transient_failure", "transient_failure", "delivered"]
    assert (pe_ledger.get_dispatch(action["idempotency_key"]) or {})["attempts"] == 3


def test_exhausted_retries_stay_retryable_for_the_next_run(pe_ledger: Ledger) -> None:
    chat = DeliveryRecorder(channel="chat", transient_failures=5)
    registry = make_registry(chat)
    decision = make_decision("A1", make_action("chat"))
    accounts = {"A1": sample_account("A1")}
    summary = run_dispatch([decision], accounts, registry=registry, ledger=pe_ledger)
    assert summary.tally("chat").failed == 1 and summary.failures[0].retryable
    assert "gave up after 3 attempts" in summary.failures[0].error
    assert list(pe_ledger.iter_history()) == []
    chat.transient_failures = 0
    assert run_dispatch([decision], accounts, registry=registry, ledger=pe_ledger).tally("chat").sent == 1


def test_permanent_failure_recorded_surfaced_and_not_retried(pe_ledger: Ledger) -> None:
    chat = DeliveryRecorder(channel="chat", permanent_error="number does not exist")
    registry = make_registry(chat)
    decision = make_decision("A1", make_action("chat", action="reminder_sms"))
    accounts = {"A1": sample_account("A1")}
    summary = run_dispatch([decision], accounts, registry=registry, ledger=pe_ledger)
    assert summary.tally("chat").failed == 1 and len(chat.calls) == 1
    (failure,) = summary.failures
    assert failure.error == "number does not exist" and not failure.retryable and failure.action == "reminder_sms"
    (event,) = list(pe_ledger.iter_history())
    assert event["outcome"] == "failed" and event["action"] == "reminder_sms"
    rerun = run_dispatch([decision], accounts, registry=registry, ledger=pe_ledger)
    assert len(chat.calls) == 1 and rerun.failures[0].earlier
    assert summary.as_dict()["totals"]["failed"] == 1


def test_unknown_channel_missing_contact_and_missing_template(pe_ledger: Ledger) -> None:
    chat = DeliveryRecorder(channel="chat", contact_point="email")
    registry = make_registry(chat)
    decisions = [
        make_decision("A1", make_action("pigeon")),
        make_decision("A2", make_action("chat")),
        make_decision("A3", make_action("chat", template="nope")),
    ]
    accounts = {"A1": sample_account("A1"), "A2": sample_account("A2", contact={"phone": "+15550100"}),
                "A3": sample_account("A3")}
    summary = run_dispatch(decisions, accounts, registry=registry, ledger=pe_ledger)
    errors = {f.account_id: f.error for f in summary.failures}
    assert errors["A1"].startswith("unknown_channel")
    assert errors["A2"].startswith("no_contact_point") and "contact.email" in errors["A2"]
    assert "'nope' does not exist" in errors["A3"]
    assert chat.calls == []
    assert {d["state"] for d in pe_ledger.list_dispatches()} == {"failed_permanent"}


def test_unknown_template_variable_fails_at_render_not_silently(pe_ledger: Ledger) -> None:
    chat = DeliveryRecorder(channel="chat")
    summary = run_dispatch(
        [make_decision("A1", make_action("chat", template="t"))], {"A1": sample_account("A1")},
        registry=make_registry(chat), ledger=pe_ledger, templates={"t": "Hi {{ account.nickname }}"},
    )
    assert chat.calls == [] and "nickname" in summary.failures[0].error


def test_future_send_at_is_deferred(tmp_path: Path) -> None:
    clock = lambda: datetime(2026, 11, 28, 0, 0, tzinfo=UTC)  # noqa: E731  08:00 in Shanghai
    ledger = Ledger.open(f"sqlite:///{tmp_path / 'l.db'}", clock=clock)
    chat = DeliveryRecorder(channel="chat")
    dispatcher = Dispatcher(ledger=ledger, registry=make_registry(chat), settings={}, retry=FAST_RETRY)
    decision = make_decision("A1", make_action("chat", send_at="2026-11-28T09:00:00+08:00"))
    summary = dispatcher.dispatch_json([decision], {"A1": sample_account("A1")})
    assert summary.tally("chat").deferred == 1 and chat.calls == []
    assert ledger.list_dispatches()[0]["state"] == "pending"


def test_action_without_key_is_reported(pe_ledger: Ledger) -> None:
    action = make_action("chat")
    del action["idempotency_key"]
    summary = run_dispatch([make_decision("A1", action)], {"A1": sample_account("A1")},
                           registry=make_registry(DeliveryRecorder(channel="chat")), ledger=pe_ledger)
    assert "idempotency_key" in summary.failures[0].error


def test_crashed_sending_row_resolution_depends_on_provider_dedup(pe_ledger: Ledger) -> None:
    dedup = DeliveryRecorder(channel="chat", idempotent_provider=True)
    plain = DeliveryRecorder(channel="mail", kind="email", contact_point="email", idempotent_provider=False)
    registry = make_registry(dedup, plain)
    a, b = make_action("chat"), make_action("mail")
    decision = make_decision("A1", a, b)
    pe_ledger.record_decision(decision)
    for key in (a["idempotency_key"], b["idempotency_key"]):  # a run died holding both claims
        assert pe_ledger.claim(key, worker="gone", lease_seconds=0, resend_crashed=False).claim is not None
    summary = run_dispatch([decision], {"A1": sample_account("A1")}, registry=registry, ledger=pe_ledger)
    assert summary.tally("chat").sent == 1 and len(dedup.calls) == 1
    assert plain.calls == [] and summary.tally("mail").held == 1  # flagged by this run, for a person
    assert summary.failures[0].error.startswith("interrupted") and summary.failures[0].kind == "interrupted"


def test_concurrent_runs_never_double_send(tmp_path: Path) -> None:
    chat = DeliveryRecorder(channel="chat", deduplicate=False)
    registry = make_registry(chat)
    url = f"sqlite:///{tmp_path / 'shared.db'}"
    Ledger.open(url).close()
    decisions = [make_decision(f"A{i}", make_action("chat")) for i in range(40)]
    accounts = {f"A{i}": sample_account(f"A{i}") for i in range(40)}
    results = []

    def run() -> None:
        ledger = Ledger.open(url)
        results.append(run_dispatch(decisions, accounts, registry=registry, ledger=ledger))
        ledger.close()

    threads = [threading.Thread(target=run) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    keys = [c.idempotency_key for c in chat.calls]
    assert len(keys) == len(set(keys)) == 40
    assert sum(r.tally("chat").sent for r in results) == 40


class Observer:
    name = "observer"

    def __init__(self) -> None:
        self.seen: list[tuple[str, str]] = []

    @hookimpl
    def policy_engine_before_dispatch(self, action: dict[str, Any], channel: ChannelSpec) -> None:
        self.seen.append(("before", action["idempotency_key"]))

    @hookimpl
    def policy_engine_after_dispatch(self, action: dict[str, Any], result: DeliveryResult) -> None:
        self.seen.append((result.status, action["idempotency_key"]))
        raise RuntimeError("observers must not break dispatch")


def test_observers_see_each_send_and_cannot_break_it(pe_ledger: Ledger) -> None:
    observer = Observer()
    chat = DeliveryRecorder(channel="chat")
    action = make_action("chat")
    summary = run_dispatch([make_decision("A1", action)], {"A1": sample_account("A1")},
                           registry=make_registry(chat, observer), ledger=pe_ledger)
    assert summary.tally("chat").sent == 1
    assert observer.seen == [("before", action["idempotency_key"]), ("delivered", action["idempotency_key"])]


def test_language_specific_template_and_offer_context(pe_ledger: Ledger) -> None:
    chat = DeliveryRecorder(channel="chat")
    store = TemplateStore.from_mapping({
        "t": "Offer {{ offer.id }}: {{ offer.months }} months",
        "t.zh-CN": "{{ bank.name }}：分期 {{ offer.months }} 期",
    })
    dispatcher = Dispatcher(ledger=pe_ledger, registry=make_registry(chat), templates=store, settings={},
                            context={"bank": {"name": "示例银行"}, "offers": {"i24": {"id": "i24", "months": 24}}})
    decisions = [make_decision("A1", make_action("chat", template="t", offer="i24")),
                 make_decision("A2", make_action("chat", template="t", offer="i24"))]
    dispatcher.dispatch_json(decisions, {"A1": sample_account("A1"), "A2": sample_account("A2", language="zh-CN")})
    assert chat.texts() == ["Offer i24: 24 months", "示例银行：分期 24 期"]


def test_full_flow_on_each_ledger_backend(ledger: Ledger) -> None:
    chat = DeliveryRecorder(channel="chat", transient_failures=1)
    registry = make_registry(chat)
    decisions = [make_decision(f"A{i}", make_action("chat"), make_action("chat")) for i in range(3)]
    accounts = {f"A{i}": sample_account(f"A{i}") for i in range(3)}
    first = run_dispatch(decisions, accounts, registry=registry, ledger=ledger)
    again = run_dispatch(decisions, accounts, registry=registry, ledger=ledger)
    assert first.tally("chat").sent == 6 and again.tally("chat").skipped == 6
    assert len(chat.delivered) == 6 and len(chat.calls) == 7
    assert len(list(ledger.iter_history())) == 6
    assert len(list(ledger.iter_decisions())) == 3


def test_send_at_without_offset_is_a_reported_failure(pe_ledger: Ledger) -> None:
    chat = DeliveryRecorder(channel="chat")
    good, bad = make_action("chat"), make_action("chat", send_at="2026-11-28 09:00")
    summary = run_dispatch([make_decision("A1", bad, good)], {"A1": sample_account("A1")},
                           registry=make_registry(chat), ledger=pe_ledger)
    assert summary.tally("chat").sent == 1 and summary.failures[0].error.startswith("invalid_send_at")
