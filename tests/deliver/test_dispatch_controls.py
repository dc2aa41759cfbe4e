"""Operators' controls and the reliability rules: concurrency, rate, circuit breaker, windows, ambiguous
sends held on a real SMTP server that stalls after DATA, secrets redacted, signatures that resist replay."""

from __future__ import annotations

import asyncio
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from plugin_servers import Provider, free_port

from policy_engine.deliver.controls import RateLimiter, control_problems
from policy_engine.deliver.dispatch import Dispatcher
from policy_engine.deliver.redact import Redactor, secret_values
from policy_engine.deliver.registry import PluginRegistry
from policy_engine.deliver.signing import signature_header, verify_signature
from policy_engine.hookspecs import ChannelSpec, DeliveryResult, Message, hookimpl
from policy_engine.ledger import Ledger
from policy_engine.testing import FAST_RETRY, DeliveryRecorder, make_action, make_decision, make_registry, run_dispatch
from policy_engine.testing import sample_account as account


def builtin(*names: str) -> PluginRegistry:
    registry = PluginRegistry()
    registry.load_entry_points(set(names))
    registry.check()
    return registry


class Concurrent:
    """A channel that remembers how many sends were in flight at once."""

    name = "concurrent"

    def __init__(self) -> None:
        self.active = 0
        self.most = 0
        self.keys: list[str] = []
        self.lock = threading.Lock()

    @hookimpl
    def policy_engine_register_channels(self) -> list[ChannelSpec]:
        return [ChannelSpec(name="chat", kind="text", contact_point="phone", idempotent_provider=True)]

    @hookimpl
    def policy_engine_send(self, action: dict[str, Any]) -> DeliveryResult:
        with self.lock:
            self.active += 1
            self.most = max(self.most, self.active)
        time.sleep(0.01)
        with self.lock:
            self.active -= 1
            self.keys.append(action["idempotency_key"])
        return DeliveryResult("delivered")


def test_concurrency_sends_in_parallel_and_each_action_once(pe_ledger: Ledger) -> None:
    channel = Concurrent()
    decisions = [make_decision(f"A{i}", make_action("chat")) for i in range(40)]
    summary = Dispatcher(ledger=pe_ledger, registry=make_registry(channel), settings={"chat": {"concurrency": 4}},
                         retry=FAST_RETRY).dispatch_json(decisions, {f"A{i}": account(f"A{i}") for i in range(40)})
    assert summary.tally("chat").sent == 40 and len(channel.keys) == len(set(channel.keys)) == 40
    assert 2 <= channel.most <= 4


def test_rate_limiter_spaces_sends_at_the_contracted_rate() -> None:
    now = [0.0]
    waited: list[float] = []

    def sleep(seconds: float) -> None:
        waited.append(seconds)
        now[0] += seconds

    limiter = RateLimiter(10, clock=lambda: now[0], sleep=sleep)
    for _ in range(30):
        limiter.acquire()
    assert now[0] == pytest.approx(2.0, abs=0.05)  # a burst of 10, then 20 more at 10 a second


def test_controls_of_the_wrong_type_are_named() -> None:
    problems = control_problems("sms", {"concurrency": "four", "rate_per_second": "0", "breaker_failures": -1})
    assert len(problems) == 3 and "[channels.sms] concurrency = 'four'" in problems[0]
    assert control_problems("sms", {"concurrency": "8", "rate_per_second": "12.5"}) == []


def test_breaker_pauses_a_failing_channel_and_the_others_go_on(pe_ledger: Ledger,
                                                                provider: tuple[Provider, str]) -> None:
    state, url = provider
    state.fail_next(100, status=503)
    failing = [make_decision(f"F{i}", make_action("sms")) for i in range(12)]
    fine = DeliveryRecorder(channel="chat")
    registry = builtin("sms")
    registry.register(fine)
    decisions = failing + [make_decision(f"C{i}", make_action("chat")) for i in range(5)]
    accounts = {d["account_id"]: account(d["account_id"]) for d in decisions}
    summary = Dispatcher(
        ledger=pe_ledger, registry=registry, retry=FAST_RETRY,
        settings={"sms": {"url": f"{url}/sms", "secret": "s3cret-value", "breaker_failures": 3}, "chat": {}},
    ).dispatch_json(decisions, accounts)
    sms = summary.tally("sms")
    assert "sms" in summary.paused and "503" in summary.paused["sms"]
    assert sms.paused >= 9 and sms.sent == 0 and len(state.requests) <= 4
    assert summary.tally("chat").sent == 5
    states = [d["state"] for d in pe_ledger.list_dispatches() if d["channel"] == "sms"]
    assert states.count("pending") == sms.paused  # paused actions stay pending for the next run


def test_a_hung_gateway_trips_the_breaker_instead_of_stalling_the_batch(
        pe_ledger: Ledger, provider: tuple[Provider, str]) -> None:
    state, url = provider
    state.slow_next(100, delay=1.0)
    decisions = [make_decision(f"H{i}", make_action("webhook")) for i in range(30)]
    started = time.monotonic()
    summary = Dispatcher(
        ledger=pe_ledger, registry=builtin("webhook"), retry=FAST_RETRY,
        settings={"webhook": {"url": f"{url}/hook", "secret": "s3cret-value", "timeout": 0.2, "concurrency": 2,
                              "breaker_failures": 4}},
    ).dispatch_json(decisions, {d["account_id"]: account(d["account_id"]) for d in decisions})
    assert "webhook" in summary.paused and summary.tally("webhook").paused >= 20
    assert time.monotonic() - started < 20  # 30 actions x 4 attempts x 0.2 s would be 24 s on one thread


def test_an_action_is_never_sent_after_its_window(tmp_path: Path) -> None:
    clock = lambda: datetime(2026, 11, 28, 14, 0, tzinfo=UTC)  # noqa: E731  22:00 in Shanghai
    ledger = Ledger.open(f"sqlite:///{tmp_path / 'l.db'}", clock=clock)
    chat = DeliveryRecorder(channel="chat")
    late = make_action("chat", send_at="2026-11-28T09:00:00+08:00", not_before="2026-11-28T09:00:00+08:00",
                       not_after="2026-11-28T21:00:00+08:00")
    open_window = make_action("chat", send_at="2026-11-28T09:00:00+08:00", not_after="2026-11-28T23:00:00+08:00")
    summary = Dispatcher(ledger=ledger, registry=make_registry(chat), settings={}, retry=FAST_RETRY).dispatch_json(
        [make_decision("A1", late), make_decision("A2", open_window)], {"A1": account("A1"), "A2": account("A2")})
    assert summary.tally("chat").expired == 1 and summary.tally("chat").sent == 1
    assert [c.idempotency_key for c in chat.calls] == [open_window["idempotency_key"]]
    assert (ledger.get_dispatch(late["idempotency_key"]) or {})["state"] == "pending"


class StallAfterData:
    """An SMTP server that takes the message, then answers only after ``delay`` seconds."""

    def __init__(self, delay: float) -> None:
        self.delay = delay
        self.received: list[bytes] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.received.append(envelope.original_content)
        await asyncio.sleep(self.delay)
        return "250 OK"


def test_smtp_timeout_after_data_is_held_never_sent_twice(pe_ledger: Ledger) -> None:
    handler = StallAfterData(delay=1.5)
    controller = Controller(handler, hostname="127.0.0.1", port=free_port())
    controller.start()
    try:
        settings = {"email": {"host": "127.0.0.1", "port": controller.port, "security": "plain",
                              "from_addr": "c@bank.test", "timeout": 0.5}}
        decision = make_decision("A1", make_action("email"))
        first = run_dispatch([decision], {"A1": account("A1")}, registry=builtin("email"), ledger=pe_ledger,
                             settings=settings)
        again = run_dispatch([decision], {"A1": account("A1")}, registry=builtin("email"), ledger=pe_ledger,
                             settings=settings)
        time.sleep(1.6)
    finally:
        controller.stop()
    assert first.tally("email").held == 1 and first.failures[0].kind == "ambiguous"
    assert "answer never came" in first.failures[0].error and "requeue" in first.failures[0].error
    assert again.tally("email").failed_earlier == 1
    assert len(handler.received) == 1, "a message the server may have accepted was sent again"
    row = pe_ledger.get_dispatch(decision["actions"][0]["idempotency_key"]) or {}
    assert row["state"] == "failed_permanent" and row["failure"] == "ambiguous"
    (event,) = list(pe_ledger.iter_history("A1"))
    assert event["outcome"] == "failed" and event["held"] == "ambiguous"  # counts against caps, serves no notice


def test_smtp_refusing_connections_is_transient_and_retried(pe_ledger: Ledger) -> None:
    settings = {"email": {"host": "127.0.0.1", "port": free_port(), "security": "plain", "from_addr": "c@b.test"}}
    summary = run_dispatch([make_decision("A1", make_action("email"))], {"A1": account("A1")},
                           registry=builtin("email"), ledger=pe_ledger, settings=settings)
    assert summary.failures[0].kind == "transient" and summary.failures[0].retryable
    assert len(pe_ledger.list_attempts()) == FAST_RETRY.max_attempts


def test_http_timeout_after_the_request_is_retried_with_the_same_key(
        pe_ledger: Ledger, provider: tuple[Provider, str]) -> None:
    state, url = provider
    state.slow_next(1, delay=0.8)  # takes the call, answers too late
    action = make_action("voice")
    summary = run_dispatch([make_decision("A1", action)], {"A1": account("A1")}, registry=builtin("voice"),
                           ledger=pe_ledger, settings={"voice": {"url": f"{url}/call", "secret": "s3cret-value",
                                                                       "timeout": 0.3}})
    assert summary.tally("voice").sent == 1
    assert state.keys_received() == [action["idempotency_key"]] * 2 and state.accepted == {action["idempotency_key"]: 1}
    assert "ambiguous" in pe_ledger.list_attempts()[0]["detail"]


def test_credentials_never_reach_the_summary_or_the_ledger(pe_ledger: Ledger) -> None:
    settings = {"sms": {"url": "http://alice:hunter2-pw@127.0.0.1:9/sms", "secret": "topsecret-123"}}
    summary = run_dispatch([make_decision("A1", make_action("sms"))], {"A1": account("A1")}, registry=builtin("sms"),
                           ledger=pe_ledger, settings=settings)
    texts = [f.error for f in summary.failures] + [str(d["last_error"]) for d in pe_ledger.list_dispatches()]
    texts += [str(a["detail"]) for a in pe_ledger.list_attempts()]
    assert summary.failures and all("hunter2" not in t and "alice" not in t and "topsecret" not in t for t in texts)
    assert "http://***@127.0.0.1:9/sms" in summary.failures[0].error
    redact = Redactor(secret_values({"x": {"api_key": "k-123456", "url": "smtp://bob:p%40ss@h"}}))
    assert redact("key k-123456 at smtp://bob:p%40ss@h, p@ss") == "key *** at smtp://***@h, ***"


def test_signatures_cover_timestamp_key_path_and_body() -> None:
    body = b'{"to": "+15550100"}'
    header = signature_header("s3cret", idempotency_key="k1", path="/sms", body=body, timestamp=1_800_000_000)
    ok = {"body": body, "idempotency_key": "k1", "path": "/sms", "now": 1_800_000_100}
    assert verify_signature("s3cret", header, **ok)
    assert not verify_signature("s3cret", header, **{**ok, "now": 1_800_000_400})  # a replay after 5 minutes
    assert not verify_signature("s3cret", header, **{**ok, "path": "/voice"})  # at another endpoint
    assert not verify_signature("s3cret", header, **{**ok, "idempotency_key": "k2"})  # as another message
    assert not verify_signature("s3cret", header, **{**ok, "body": body + b" "})
    assert not verify_signature("other", header, **ok) and not verify_signature("s3cret", "sha256=abc", **ok)


def test_an_account_id_longer_than_the_ledger_stores_is_reported_and_the_batch_goes_on(pe_ledger: Ledger) -> None:
    chat = DeliveryRecorder(channel="chat")
    long_id = "X" * 201
    summary = run_dispatch([make_decision(long_id, make_action("chat")), make_decision("A2", make_action("chat"))],
                           {long_id: account(long_id), "A2": account("A2")}, registry=make_registry(chat),
                           ledger=pe_ledger)
    assert summary.tally("chat").sent == 1 and "201 characters" in summary.failures[0].error


def test_concurrent_runs_on_postgresql_never_double_send(pg_schema: tuple[str, str]) -> None:
    url, schema = pg_schema
    chat = DeliveryRecorder(channel="chat", deduplicate=False, idempotent_provider=False)
    registry = make_registry(chat)
    Ledger.open(url, schema_name=schema).close()
    decisions = [make_decision(f"P{i}", make_action("chat")) for i in range(60)]
    accounts = {f"P{i}": account(f"P{i}") for i in range(60)}
    sent: list[int] = []

    def one_run() -> None:
        ledger = Ledger.open(url, schema_name=schema)
        summary = Dispatcher(ledger=ledger, registry=registry, settings={"chat": {"concurrency": 3}},
                             retry=FAST_RETRY).dispatch_json(decisions, accounts)
        sent.append(summary.tally("chat").sent)
        ledger.close()

    runs = [threading.Thread(target=one_run) for _ in range(3)]
    for run in runs:
        run.start()
    for run in runs:
        run.join()
    keys = [c.idempotency_key for c in chat.calls]
    assert len(keys) == len(set(keys)) == 60 and sum(sent) == 60
    with Ledger.open(url, schema_name=schema) as ledger:
        assert len(list(ledger.iter_decisions())) == 60  # recorded once each, no UniqueViolation


def test_a_send_that_raises_a_plain_os_error_on_a_channel_without_dedup_is_held(pe_ledger: Ledger) -> None:
    class Flaky:
        name = "flaky"

        @hookimpl
        def policy_engine_register_channels(self) -> list[ChannelSpec]:
            return [ChannelSpec(name="post", kind="letter", idempotent_provider=False)]

        @hookimpl
        def policy_engine_send(self, message: Message) -> DeliveryResult:
            raise ConnectionResetError("reset by peer")

    summary = run_dispatch([make_decision("A1", make_action("post"))], {"A1": account("A1")},
                           registry=make_registry(Flaky()), ledger=pe_ledger)
    assert summary.tally("post").held == 1 and len(pe_ledger.list_attempts()) == 1


def test_deferred_actions_wait_and_are_not_claimed(tmp_path: Path) -> None:
    clock = lambda: datetime(2026, 11, 28, 0, 0, tzinfo=UTC)  # noqa: E731
    ledger = Ledger.open(f"sqlite:///{tmp_path / 'l.db'}", clock=clock)
    later = (clock() + timedelta(hours=2)).isoformat()
    summary = Dispatcher(ledger=ledger, registry=make_registry(DeliveryRecorder(channel="chat")),
                         settings={}).dispatch_json([make_decision("A1", make_action("chat", send_at=later))],
                                                    {"A1": account("A1")})
    assert summary.tally("chat").deferred == 1 and ledger.list_dispatches()[0]["claim_token"] is None
