"""Real servers on 127.0.0.1 for the channel tests: an HTTP provider and an SMTP server."""

from __future__ import annotations

import json
import socket
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from aiosmtpd.controller import Controller

from policy_engine.deliver.signing import verify_signature


@dataclass
class Received:
    """One request the provider received."""

    path: str
    key: str | None
    body: dict[str, Any]
    signature_ok: bool | None


@dataclass
class Provider:
    """What the fake provider saw and did; tell it to fail with ``fail_next``."""

    secret: str | None = None
    requests: list[Received] = field(default_factory=list)
    accepted: dict[str, int] = field(default_factory=dict)  # key -> times it caused a real send (must be 1)
    ids: dict[str, str] = field(default_factory=dict)
    failures: list[tuple[int, float]] = field(default_factory=list)  # (status, delay) for the next requests
    outcome: str | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)

    def fail_next(self, count: int, status: int = 500, delay: float = 0.0) -> None:
        """Answer the next ``count`` requests with ``status`` (after ``delay`` seconds)."""
        with self.lock:
            self.failures.extend([(status, delay)] * count)

    def slow_next(self, count: int, delay: float) -> None:
        """Handle the next ``count`` requests normally, but only after ``delay`` seconds."""
        with self.lock:
            self.failures.extend([(0, delay)] * count)

    def keys_received(self) -> list[str]:
        """Idempotency keys of every request, duplicates included."""
        return [r.key for r in self.requests if r.key]


def start_http_provider(provider: Provider) -> tuple[ThreadingHTTPServer, str]:
    """Serve ``provider`` on 127.0.0.1 (random port); returns the server and its base URL."""

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            raw = self.rfile.read(length)
            key = self.headers.get("Idempotency-Key")
            signature = self.headers.get("X-Policy-Engine-Signature")
            ok = (verify_signature(provider.secret, signature, body=raw, idempotency_key=key, path=self.path)
                  if provider.secret else None)
            with provider.lock:
                provider.requests.append(Received(self.path, key, json.loads(raw or b"{}"), ok))
                failure = provider.failures.pop(0) if provider.failures else None
            if failure is not None:
                status, delay = failure
                if delay:
                    time.sleep(delay)
                if status:
                    self._reply(status, {"error": "simulated"})
                    return
            if provider.secret and not ok:
                self._reply(401, {"error": "bad signature"})
                return
            with provider.lock:
                if key not in provider.ids:
                    provider.ids[str(key)] = f"prov-{len(provider.ids) + 1}"
                    provider.accepted[str(key)] = provider.accepted.get(str(key), 0) + 1
                reply: dict[str, Any] = {"id": provider.ids[str(key)]}
            if provider.outcome:
                reply["outcome"] = provider.outcome
            self._reply(200, reply)

        def _reply(self, status: int, body: dict[str, Any]) -> None:
            data = json.dumps(body).encode()
            try:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
            except (BrokenPipeError, ConnectionResetError):
                pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}"


class MailSink:
    """An aiosmtpd handler keeping every message it receives."""

    def __init__(self) -> None:
        self.messages: list[tuple[str, list[str], bytes]] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append((envelope.mail_from, list(envelope.rcpt_tos), envelope.original_content))
        return "250 OK"


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_smtp() -> tuple[Controller, MailSink]:
    """A real SMTP server on 127.0.0.1 (no STARTTLS)."""
    sink = MailSink()
    controller = Controller(sink, hostname="127.0.0.1", port=free_port())
    controller.start()
    return controller, sink


def make_certificate(folder: str) -> tuple[str, str]:
    """A self-signed certificate for 127.0.0.1 made with the openssl CLI: (cert file, key file)."""
    import subprocess

    cert, key = f"{folder}/cert.pem", f"{folder}/key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", cert, "-days", "2",
         "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"],
        check=True, capture_output=True, timeout=60,
    )
    return cert, key


def start_smtp_tls(cert: str, key: str, *, implicit: bool) -> tuple[Controller, MailSink]:
    """An SMTP server on 127.0.0.1 offering STARTTLS, or speaking TLS from the start (``implicit``)."""
    import ssl

    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    sink = MailSink()
    if implicit:
        controller = Controller(sink, hostname="127.0.0.1", port=free_port(), ssl_context=context)
    else:
        controller = Controller(sink, hostname="127.0.0.1", port=free_port(), tls_context=context,
                                require_starttls=True)
    controller.start()
    return controller, sink
