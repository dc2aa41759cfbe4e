"""Exactly-once under SIGKILL: a dispatch process killed at 24 different points, then rerun.

The provider on 127.0.0.1 records every request and performs each idempotency key's side effect once
(as a real provider honouring ``Idempotency-Key`` does). After each kill and after the final rerun,
every action must be delivered exactly once: no key missing (no loss), no key performed twice
(no duplicate), and exactly one history event per action.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
from plugin_servers import Provider
from policy_engine_channels._common import post_signed_json
from sqlalchemy import event

from policy_engine.deliver.dispatch import Dispatcher, RetryPolicy
from policy_engine.hookspecs import ChannelSpec, DeliveryResult, Message, hookimpl
from policy_engine.ledger import Ledger
from policy_engine.testing import make_action, make_decision, make_registry, sample_account

BATCH = 10
SECRET = "s3cret-value"


class CrashingChannel:
    """An HTTP channel that SIGKILLs its own process at a chosen point, the N-th time it gets there."""

    name = "crashing"

    def __init__(self, url: str, point: str = "", nth: int = 0) -> None:
        self.url, self.point, self.nth = url, point, nth
        self.counts: Counter[str] = Counter()
        self.idempotent = True
        self.lock = threading.Lock()

    def reached(self, point: str) -> None:
        with self.lock:  # sends come from several threads
            self.counts[point] += 1
            hit = point == self.point and self.counts[point] == self.nth
        if hit:
            os.kill(os.getpid(), signal.SIGKILL)

    @hookimpl
    def policy_engine_register_channels(self) -> list[ChannelSpec]:
        return [ChannelSpec(name="paging", kind="text", contact_point="phone", idempotent_provider=self.idempotent)]

    @hookimpl
    def policy_engine_before_dispatch(self) -> None:
        self.reached("before_send")

    @hookimpl
    def policy_engine_send(self, channel: ChannelSpec, action: Mapping[str, Any], message: Message) -> DeliveryResult:
        key = str(action["idempotency_key"])
        result = post_signed_json(f"{self.url}/page", {"idempotency_key": key, "text": message.text},
                                  secret=SECRET, idempotency_key=key, timeout=5)
        self.reached("after_provider_accepted")
        return result

    @hookimpl
    def policy_engine_after_dispatch(self) -> None:
        self.reached("after_commit")


def _batch() -> tuple[list[dict[str, Any]], dict[str, dict[str, Any]]]:
    decisions = [make_decision(f"A{i}", make_action("paging", key=f"crash-{i}")) for i in range(BATCH)]
    return decisions, {f"A{i}": sample_account(f"A{i}") for i in range(BATCH)}


def _run_in_child(db: str, url: str, point: str, nth: int) -> int:
    """Fork a process that dispatches the batch and may kill itself; returns its wait status."""
    pid = os.fork()
    if pid == 0:  # the child: never return into pytest
        code = 1
        try:
            channel = CrashingChannel(url, point, nth)
            ledger = Ledger.open(db)
            if point == "before_commit":
                event.listen(ledger.engine, "commit", lambda _conn: channel.reached("before_commit"))
            decisions, accounts = _batch()
            Dispatcher(ledger=ledger, registry=make_registry(channel), settings={},
                       retry=RetryPolicy(max_attempts=2, base_delay=0.001)).dispatch_json(decisions, accounts)
            code = 0
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    return status


def _assert_exactly_once(ledger: Ledger, state: Provider) -> None:
    keys = {f"crash-{i}" for i in range(BATCH)}
    assert set(state.accepted) == keys, "an action was lost"
    assert set(state.accepted.values()) == {1}, "an action was performed twice"
    assert {d["idempotency_key"]: d["state"] for d in ledger.list_dispatches()} == dict.fromkeys(keys, "delivered")
    history_keys = Counter(e["idempotency_key"] for e in ledger.iter_history())
    assert history_keys == Counter(dict.fromkeys(keys, 1)), "history must hold one event per action"


@pytest.mark.parametrize("point", ["before_send", "after_provider_accepted", "before_commit", "after_commit"])
def test_sigkill_at_every_point_then_rerun(point: str, tmp_path: Path, provider: tuple[Provider, str]) -> None:
    state, url = provider
    db = f"sqlite:///{tmp_path / 'ledger.db'}"
    kills = 0
    for nth in range(1, 7):  # six kill points per place, 24 in all; each run gets further into the batch
        status = _run_in_child(db, url, point, nth)
        if os.WIFSIGNALED(status):
            assert os.WTERMSIG(status) == signal.SIGKILL
            kills += 1
        else:
            assert os.WEXITSTATUS(status) == 0
    assert kills >= 4, f"the process was killed only {kills} times at {point}"
    assert _run_in_child(db, url, "", 0) == 0  # the rerun
    with Ledger.open(db) as ledger:
        _assert_exactly_once(ledger, state)
        requests_per_key = Counter(state.keys_received())
        assert max(requests_per_key.values()) <= 1 + kills  # re-sent (deduplicated) only after a kill
        before = len(state.requests)
        assert _run_in_child(db, url, "", 0) == 0
        assert len(state.requests) == before, "a rerun after completion must send nothing"


SCRIPT = """
import json, sys
from policy_engine.deliver.dispatch import Dispatcher
from policy_engine.ledger import Ledger
from policy_engine.deliver.registry import get_registry
decisions, accounts = json.load(open(sys.argv[2]))
Dispatcher(ledger=Ledger.open(sys.argv[1]), registry=get_registry()).dispatch_json(decisions, accounts)
"""


def test_external_sigkill_of_a_real_subprocess(tmp_path: Path, provider: tuple[Provider, str]) -> None:
    state, url = provider
    decisions = [make_decision(f"B{i}", make_action("webhook", key=f"ext-{i}")) for i in range(20)]
    accounts = {f"B{i}": sample_account(f"B{i}") for i in range(20)}
    batch = tmp_path / "batch.json"
    batch.write_text(json.dumps([decisions, accounts]))
    db = f"sqlite:///{tmp_path / 'ledger.db'}"
    env = {**os.environ, "POLICY_ENGINE_PLUGINS": "webhook", "POLICY_ENGINE_WEBHOOK_URL": f"{url}/hook",
           "POLICY_ENGINE_WEBHOOK_SECRET": SECRET}
    state.slow_next(8, delay=0.05)  # slow answers keep the process mid-batch
    proc = subprocess.Popen([sys.executable, "-c", SCRIPT, db, str(batch)], env=env, cwd=tmp_path)
    deadline = time.monotonic() + 30
    while len(state.requests) < 4 and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    assert proc.wait(30) == -signal.SIGKILL
    assert len(state.accepted) < 20
    rerun = subprocess.run([sys.executable, "-c", SCRIPT, db, str(batch)], env=env, cwd=tmp_path, timeout=60)
    assert rerun.returncode == 0
    keys = {f"ext-{i}" for i in range(20)}
    assert set(state.accepted) == keys and set(state.accepted.values()) == {1}
    with Ledger.open(db) as ledger:
        assert {d["state"] for d in ledger.list_dispatches()} == {"delivered"}
        assert Counter(e["idempotency_key"] for e in ledger.iter_history()) == Counter(dict.fromkeys(keys, 1))


# -- the batched, concurrent path: a batch claimed, half of it sent, half of the results recorded ----------

WIDE = 40


def _run_wide_in_child(db: str, url: str, point: str, nth: int, *, idempotent: bool) -> int:
    """Dispatch WIDE actions with 4 sender threads (claims and results in batches); may kill itself."""
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            channel = CrashingChannel(url, point, nth)
            channel.idempotent = idempotent
            ledger = Ledger.open(db)
            if point == "before_commit":
                event.listen(ledger.engine, "commit", lambda _conn: channel.reached("before_commit"))
            decisions = [make_decision(f"W{i}", make_action("paging", key=f"wide-{i}")) for i in range(WIDE)]
            accounts = {f"W{i}": sample_account(f"W{i}") for i in range(WIDE)}
            Dispatcher(ledger=ledger, registry=make_registry(channel), settings={"paging": {"concurrency": 4}},
                       retry=RetryPolicy(max_attempts=2, base_delay=0.001)).dispatch_json(decisions, accounts)
            code = 0
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    return status


@pytest.mark.parametrize(("point", "nth"), [
    ("before_send", 3),               # a batch is claimed (committed), nothing of it sent yet
    ("after_provider_accepted", 17),  # half of the batch sent, no result recorded
    ("before_commit", 4),             # results of a batch being committed
    ("after_commit", 21),             # half of the results recorded
])
def test_sigkill_in_the_batched_concurrent_path(point: str, nth: int, tmp_path: Path,
                                                provider: tuple[Provider, str]) -> None:
    state, url = provider
    db = f"sqlite:///{tmp_path / 'ledger.db'}"
    status = _run_wide_in_child(db, url, point, nth, idempotent=True)
    assert os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL, f"not killed at {point}"
    assert _run_wide_in_child(db, url, "", 0, idempotent=True) == 0  # the rerun
    keys = {f"wide-{i}" for i in range(WIDE)}
    assert set(state.accepted) == keys, "an action was lost"
    assert set(state.accepted.values()) == {1}, "an action was performed twice"
    with Ledger.open(db) as ledger:
        assert {d["state"] for d in ledger.list_dispatches()} == {"delivered"}
        assert Counter(e["idempotency_key"] for e in ledger.iter_history()) == Counter(dict.fromkeys(keys, 1))


def test_sigkill_mid_batch_on_a_channel_that_cannot_deduplicate_holds_never_resends(
        tmp_path: Path, provider: tuple[Provider, str]) -> None:
    state, url = provider
    db = f"sqlite:///{tmp_path / 'ledger.db'}"
    status = _run_wide_in_child(db, url, "after_provider_accepted", 9, idempotent=False)
    assert os.WIFSIGNALED(status)
    sent_before = Counter(state.keys_received())
    assert _run_wide_in_child(db, url, "", 0, idempotent=False) == 0
    requests = Counter(state.keys_received())
    assert max(requests.values()) == 1, "a message the provider may have had was sent again"
    with Ledger.open(db) as ledger:
        rows = {d["idempotency_key"]: d for d in ledger.list_dispatches()}
        held = [k for k, d in rows.items() if d["state"] == "failed_permanent"]
        assert held and all(rows[k]["failure"] == "interrupted" for k in held)
        assert set(sent_before) <= {k for k, d in rows.items() if d["state"] == "delivered"} | set(held)
        assert all(rows[k]["state"] == "delivered" for k in requests if k not in held)
        assert len(held) + sum(d["state"] == "delivered" for d in rows.values()) == WIDE  # nothing lost silently
