"""The apprise-backed SMS channel against a real HTTP endpoint on 127.0.0.1 (apprise's json:// service)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from policy_engine.deliver.registry import PluginRegistry
from policy_engine.ledger import Ledger
from policy_engine.testing import make_action, make_decision, run_dispatch, sample_account


@pytest.fixture
def endpoint() -> Iterator[tuple[int, list[tuple[str, dict[str, Any]]], list[int]]]:
    """(port, received (path, body) pairs, statuses to answer with before succeeding)."""
    received: list[tuple[str, dict[str, Any]]] = []
    fail: list[int] = []

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            status = fail.pop(0) if fail else 200
            if status == 200:
                received.append((self.path, body))
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server.server_address[1], received, fail
    server.shutdown()
    server.server_close()


def _registry() -> PluginRegistry:
    registry = PluginRegistry()
    registry.load_entry_points({"sms_apprise"})
    registry.check()
    return registry


def test_apprise_sms_reaches_the_service_with_the_phone_and_opt_out(
        pe_ledger: Ledger, endpoint: tuple[int, list[tuple[str, dict[str, Any]]], list[int]]) -> None:
    port, received, _ = endpoint
    account = sample_account("A1")
    summary = run_dispatch(
        [make_decision("A1", make_action("sms_apprise", template="t", content_rules=["opt_out"]))], {"A1": account},
        registry=_registry(), ledger=pe_ledger, templates={"t": "Your card payment is overdue."},
        settings={"sms_apprise": {"url": f"json://127.0.0.1:{port}/send/{{phone}}"}},
    )
    assert summary.tally("sms_apprise").sent == 1
    ((path, body),) = received
    assert path == f"/send/{account['contact']['phone']}"
    assert body["message"].startswith("Your card payment is overdue.") and "STOP" in body["message"]


def test_apprise_service_errors_are_held_never_sent_twice(
        pe_ledger: Ledger, endpoint: tuple[int, list[tuple[str, dict[str, Any]]], list[int]]) -> None:
    # apprise cannot say whether a failed notification reached the provider (which cannot deduplicate):
    # the send is held for a person, not retried, not sent again by the next run
    port, received, fail = endpoint
    fail.extend([500] * 20)
    decision = make_decision("A1", make_action("sms_apprise", template="t"))
    settings = {"sms_apprise": {"url": f"json://127.0.0.1:{port}/send"}}
    summary = run_dispatch([decision], {"A1": sample_account("A1")}, registry=_registry(), ledger=pe_ledger,
                           templates={"t": "Hello"}, settings=settings)
    assert summary.tally("sms_apprise").held == 1 and received == [] and len(fail) == 19  # one attempt only
    assert summary.failures[0].kind == "ambiguous" and not summary.failures[0].retryable
    rerun = run_dispatch([decision], {"A1": sample_account("A1")}, registry=_registry(), ledger=pe_ledger,
                         templates={"t": "Hello"}, settings=settings)
    assert rerun.tally("sms_apprise").failed_earlier == 1 and len(fail) == 19
