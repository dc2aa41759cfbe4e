"""Local stand-ins for the services the built-in channels talk to, for a first run without real providers.

:class:`SmtpSink` is a minimal SMTP server (EHLO/HELO, MAIL, RCPT, DATA, RSET, NOOP, QUIT; no TLS, no
authentication) that writes each message it accepts to ``FOLDER/mail/NNNN.eml``. :class:`HttpSink` answers
every POST with ``200 {"id": ..., "outcome": null}`` and writes the request (path, headers, JSON body)
to ``FOLDER/http/<first path segment>/NNNN.json``, so ``/sms`` and ``/voice`` land in their own folders.
Both listen on 127.0.0.1 only, number their files in arrival order, and check nothing: they are for
seeing what would go out, not for production. Signatures are recorded, not verified.
"""

from __future__ import annotations

import json
import socketserver
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

__all__ = ["HttpSink", "SmtpSink", "Sinks"]

LOCAL = "127.0.0.1"
MAX_MESSAGE = 10 * 1024 * 1024
"""The largest message or request body a sink accepts (bytes)."""


class _Numbered:
    """Files ``NNNN<suffix>`` in a folder, numbered in arrival order across threads."""

    def __init__(self, folder: Path, suffix: str) -> None:
        self.folder = folder
        self.suffix = suffix
        self._lock = threading.Lock()
        self._count = 0

    def write(self, data: bytes, sub: str = "") -> Path:
        """Write ``data`` as the next file (under ``sub`` when given); return its path."""
        with self._lock:
            self._count += 1
            folder = self.folder / sub if sub else self.folder
            folder.mkdir(parents=True, exist_ok=True)
            path = folder / f"{self._count:04d}{self.suffix}"
            path.write_bytes(data)
            return path

    @property
    def count(self) -> int:
        """How many files were written."""
        return self._count


def _address(command: str) -> str:
    """The ``<path>`` of ``MAIL FROM:<a@b> SIZE=10``, without the ESMTP parameters after it."""
    argument = command.partition(":")[2].strip()
    return argument[: argument.index(">") + 1] if argument.startswith("<") and ">" in argument else argument


class _SmtpHandler(socketserver.StreamRequestHandler):
    server: _SmtpServer

    def _reply(self, line: str) -> None:
        self.wfile.write(line.encode("ascii") + b"\r\n")

    def handle(self) -> None:
        self._reply("220 policy-engine sink ESMTP")
        sender: str | None = None
        recipients: list[str] = []
        while True:
            raw = self.rfile.readline(4096)
            if not raw:
                return
            command = raw.decode("utf-8", "replace").strip()
            verb = command[:4].upper()
            if verb == "EHLO":
                self._reply("250-policy-engine sink")
                self._reply("250-8BITMIME")
                self._reply("250-SMTPUTF8")
                self._reply(f"250 SIZE {MAX_MESSAGE}")
            elif verb == "HELO":
                self._reply("250 policy-engine sink")
            elif verb == "MAIL":
                sender, recipients = _address(command), []
                self._reply("250 OK")
            elif verb == "RCPT":
                recipients.append(_address(command))
                self._reply("250 OK")
            elif verb == "DATA":
                if sender is None or not recipients:
                    self._reply("503 MAIL and RCPT first")
                    continue
                self._reply("354 end with <CRLF>.<CRLF>")
                body = self._data()
                if body is None:
                    return
                envelope = f"X-Sink-Mail-From: {sender}\r\nX-Sink-Rcpt-To: {', '.join(recipients)}\r\n".encode()
                self.server.files.write(envelope + body)
                self._reply("250 OK: kept")
                sender, recipients = None, []
            elif verb == "RSET":
                sender, recipients = None, []
                self._reply("250 OK")
            elif verb == "NOOP":
                self._reply("250 OK")
            elif verb == "QUIT":
                self._reply("221 bye")
                return
            else:
                self._reply("502 not implemented")

    def _data(self) -> bytes | None:
        lines: list[bytes] = []
        size = 0
        while True:
            raw = self.rfile.readline(MAX_MESSAGE)
            if not raw:
                return None
            if raw in (b".\r\n", b".\n"):
                return b"".join(lines)
            size += len(raw)
            if size <= MAX_MESSAGE:
                lines.append(raw[1:] if raw.startswith(b"..") else raw)


class _SmtpServer(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], files: _Numbered) -> None:
        self.files = files
        super().__init__(address, _SmtpHandler)


class _HttpHandler(BaseHTTPRequestHandler):
    server: _HttpServer
    protocol_version = "HTTP/1.1"
    headers_kept: ClassVar = ("content-type", "idempotency-key", "x-policy-engine-signature")

    def do_POST(self) -> None:  # noqa: N802  (the name http.server calls)
        """Keep the request and answer 200 with an id."""
        length = min(int(self.headers.get("Content-Length") or 0), MAX_MESSAGE)
        body = self.rfile.read(length)
        try:
            parsed: Any = json.loads(body)
        except ValueError:
            parsed = body.decode("utf-8", "replace")
        route = self.path.strip("/").split("/")[0].split("?")[0] or "root"
        kept = {"path": self.path, "headers": {key: value for key, value in self.headers.items()
                                               if key.lower() in self.headers_kept}, "body": parsed}
        written = self.server.files.write(json.dumps(kept, ensure_ascii=False, indent=2).encode("utf-8") + b"\n",
                                          route)
        reply = json.dumps({"id": f"sink-{route}-{written.stem}", "outcome": None}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(reply)))
        self.end_headers()
        self.wfile.write(reply)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002  (the base class's signature)
        """Quiet: the files are the log."""


class _HttpServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], files: _Numbered) -> None:
        self.files = files
        super().__init__(address, _HttpHandler)


class SmtpSink:
    """The SMTP sink, serving in a background thread once started."""

    def __init__(self, folder: Path, port: int) -> None:
        self.files = _Numbered(folder / "mail", ".eml")
        self.server = _SmtpServer((LOCAL, port), self.files)
        self.port = int(self.server.server_address[1])


class HttpSink:
    """The HTTP gateway sink, serving in a background thread once started."""

    def __init__(self, folder: Path, port: int) -> None:
        self.files = _Numbered(folder / "http", ".json")
        self.server = _HttpServer((LOCAL, port), self.files)
        self.port = int(self.server.server_address[1])


class Sinks:
    """Both sinks, writing under one folder; a context manager that serves while it is open.

    Port 0 picks a free port (see ``smtp.port`` and ``http.port``). OSError when a port is taken.
    """

    def __init__(self, folder: str | Path, smtp_port: int = 2525, http_port: int = 8025) -> None:
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.smtp = SmtpSink(self.folder, smtp_port)
        try:
            self.http = HttpSink(self.folder, http_port)
        except OSError:
            self.smtp.server.server_close()
            raise
        self._threads: list[threading.Thread] = []

    def __enter__(self) -> Sinks:
        for server in (self.smtp.server, self.http.server):
            thread = threading.Thread(target=server.serve_forever, daemon=True)
            thread.start()
            self._threads.append(thread)
        return self

    def __exit__(self, *exc: object) -> None:
        for server in (self.smtp.server, self.http.server):
            server.shutdown()
            server.server_close()
        for thread in self._threads:
            thread.join(timeout=5)
