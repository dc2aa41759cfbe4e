"""Local gateways for the dispatch benchmark: a fast HTTP provider and an SMTP server, each in its own process.

The HTTP provider is an asyncio server speaking HTTP/1.1 with keep-alive: it verifies the request's
signature, deduplicates by ``Idempotency-Key`` (answering the same id for a key it saw) and counts what it
performed, so the benchmark can check every action was performed exactly once. The SMTP server is aiosmtpd.
Both listen on 127.0.0.1 only.
"""

from __future__ import annotations

import asyncio
import json
import multiprocessing
import socket
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from policy_engine.deliver.signing import verify_signature  # noqa: E402

__all__ = ["Gateway", "start_http", "start_smtp"]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class _Provider(asyncio.Protocol):
    seen: dict[str, str] = {}
    bad_signatures = 0
    secret = ""

    def connection_made(self, transport: Any) -> None:
        self.transport = transport
        self.buffer = b""

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while True:
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            lines = self.buffer[:end].decode("latin-1").split("\r\n")
            headers = {}
            for line in lines[1:]:
                name, _, value = line.partition(":")
                headers[name.strip().lower()] = value.strip()
            length = int(headers.get("content-length", "0"))
            if len(self.buffer) < end + 4 + length:
                return
            body = self.buffer[end + 4:end + 4 + length]
            self.buffer = self.buffer[end + 4 + length:]
            path = lines[0].split(" ")[1]
            if path == "/stats":
                out = json.dumps({"performed": len(_Provider.seen), "bad": _Provider.bad_signatures}).encode()
            else:
                key = headers.get("idempotency-key", "")
                signature = headers.get("x-policy-engine-signature")
                if _Provider.secret and signature is not None and not verify_signature(
                        _Provider.secret, signature, body=body, idempotency_key=key, path=path):
                    _Provider.bad_signatures += 1
                provider_id = _Provider.seen.setdefault(key, f"p{len(_Provider.seen) + 1}")
                out = json.dumps({"id": provider_id}).encode()
            self.transport.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s"
                                 % (len(out), out))


def _serve_http(port: int, secret: str) -> None:
    _Provider.secret = secret

    async def main() -> None:
        server = await asyncio.get_running_loop().create_server(_Provider, "127.0.0.1", port, backlog=512)
        await server.serve_forever()

    asyncio.run(main())


def _serve_smtp(port: int) -> None:
    from aiosmtpd.controller import Controller  # noqa: PLC0415

    class Sink:
        count = 0

        async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
            Sink.count += 1
            return "250 OK"

    controller = Controller(Sink(), hostname="127.0.0.1", port=port)
    controller.start()
    while True:
        time.sleep(3600)


class Gateway:
    """A gateway process: its URL or port, and stop()."""

    def __init__(self, process: multiprocessing.Process, port: int) -> None:
        self.process = process
        self.port = port

    @property
    def url(self) -> str:
        """The HTTP base URL."""
        return f"http://127.0.0.1:{self.port}"

    def performed(self) -> int:
        """How many distinct keys the HTTP provider performed."""
        import http.client  # noqa: PLC0415

        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        conn.request("POST", "/stats", body=b"", headers={"Content-Length": "0"})
        return int(json.loads(conn.getresponse().read())["performed"])

    def stop(self) -> None:
        """End the process."""
        self.process.kill()
        self.process.join(10)


def _wait(port: int) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise RuntimeError(f"gateway on port {port} did not start")


def start_http(secret: str) -> Gateway:
    """The HTTP provider in its own process."""
    port = _free_port()
    process = multiprocessing.get_context("spawn").Process(target=_serve_http, args=(port, secret), daemon=True)
    process.start()
    _wait(port)
    return Gateway(process, port)


def start_smtp() -> Gateway:
    """An aiosmtpd server in its own process."""
    port = _free_port()
    process = multiprocessing.get_context("spawn").Process(target=_serve_smtp, args=(port,), daemon=True)
    process.start()
    _wait(port)
    return Gateway(process, port)
