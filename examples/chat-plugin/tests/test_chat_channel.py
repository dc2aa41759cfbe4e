"""The chat channel against a real HTTP server on 127.0.0.1, with policy-engine's test helpers."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from policy_engine.deliver.registry import PluginRegistry
from policy_engine.hookspecs import PluginError
from policy_engine.ledger import Ledger
from policy_engine.testing import DeliveryRecorder, make_action, make_decision, run_dispatch, sample_account

import policy_engine_chat


@pytest.fixture
def chat_api() -> Iterator[tuple[str, list[dict[str, Any]], list[int]]]:
    """A chat API on 127.0.0.1 that deduplicates by Idempotency-Key: (url, accepted messages, statuses to fail)."""
    accepted: list[dict[str, Any]] = []
    fail_with: list[int] = []
    seen: dict[str, str] = {}

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            status, reply = 200, {}
            if fail_with:
                status = fail_with.pop(0)
            else:
                key = self.headers["Idempotency-Key"]
                if key not in seen:
                    seen[key] = f"m{len(seen) + 1}"
                    accepted.append({**body, "auth": self.headers.get("Authorization")})
                reply = {"message_id": seen[key]}
            data = json.dumps(reply).encode()
            self.send_response(status)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/messages", accepted, fail_with
    server.shutdown()
    server.server_close()


def test_chat_message_is_sent_once(
    pe_registry: PluginRegistry, register_plugin: Callable[..., str], pe_ledger: Ledger,
    chat_api: tuple[str, list[dict[str, Any]], list[int]],
) -> None:
    url, accepted, fail_with = chat_api
    register_plugin(policy_engine_chat, name="chat")
    fail_with.append(503)  # one transient failure: retried
    decision = make_decision("A1", make_action("chat", template="hello"))
    accounts = {"A1": sample_account("A1")}
    templates = {"hello": "Hello {{ account.account_id }}, your card is {{ dpd }} days overdue."}
    settings = {"chat": {"url": url, "token": "t0ken"}}
    for _ in range(2):  # the second run sends nothing
        run_dispatch([decision], accounts, registry=pe_registry, ledger=pe_ledger, templates=templates,
                     settings=settings)
    assert len(accepted) == 1
    assert accepted[0]["text"] == "Hello A1, your card is 35 days overdue.\nReply STOP to stop these messages."
    assert accepted[0]["auth"] == "Bearer t0ken"
    (event,) = pe_ledger.iter_history("A1")
    assert event["channel"] == "chat" and event["outcome"] == "sent"


def test_rejected_message_is_a_permanent_failure(
    pe_registry: PluginRegistry, register_plugin: Callable[..., str], pe_ledger: Ledger,
    chat_api: tuple[str, list[dict[str, Any]], list[int]],
) -> None:
    url, accepted, fail_with = chat_api
    register_plugin(policy_engine_chat, name="chat")
    fail_with.append(400)
    summary = run_dispatch([make_decision("A1", make_action("chat"))], {"A1": sample_account("A1")},
                           registry=pe_registry, ledger=pe_ledger, settings={"chat": {"url": url}})
    assert summary.tally("chat").failed == 1 and "HTTP 400" in summary.failures[0].error
    assert accepted == []


def test_chat_beside_another_channel(
    pe_registry: PluginRegistry, register_plugin: Callable[..., str], pe_ledger: Ledger,
    chat_api: tuple[str, list[dict[str, Any]], list[int]],
) -> None:
    url, accepted, _ = chat_api
    register_plugin(policy_engine_chat, name="chat")
    sms = DeliveryRecorder(channel="sms")
    register_plugin(sms)
    decision = make_decision("A1", make_action("chat"), make_action("sms"))
    summary = run_dispatch([decision], {"A1": sample_account("A1")}, registry=pe_registry, ledger=pe_ledger,
                           settings={"chat": {"url": url}})
    assert summary.total("sent") == 2
    assert len(accepted) == 1 and len(sms.calls) == 1


def test_a_second_chat_plugin_is_refused(pe_registry: PluginRegistry, register_plugin: Callable[..., str]) -> None:
    register_plugin(policy_engine_chat, name="chat")
    with pytest.raises(PluginError, match="channel 'chat' is provided by two plugins"):
        register_plugin(DeliveryRecorder(channel="chat"))


def test_plugin_declares_its_entry_point() -> None:
    import tomllib
    from pathlib import Path

    project = tomllib.loads((Path(__file__).parents[1] / "pyproject.toml").read_text())
    assert project["project"]["entry-points"]["policy_engine"] == {"chat": "policy_engine_chat"}
