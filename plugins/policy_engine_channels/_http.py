"""One pooled HTTP/1.1 client per channel: keep-alive connections reused across sends and threads.

Why not a new request (and a new TLS context) per send: building an SSL context and a TCP connection for
every message cost more than the message itself. Why a small HTTP/1.1 exchange of our own over a pooled
socket, rather than a client library or ``http.client``: on this workload (small JSON POSTs to one
gateway) a pooled ``httpx.Client`` measured about 700 requests/s on one core and ``http.client`` on a
kept-alive connection about 3,500/s, most of it spent parsing the answer's headers with the e-mail
parser; writing the request in one ``sendall`` and reading the answer with ``bytes.find`` costs a third
of that (see ``benchmarks/bench_dispatch.py``). The exchange speaks what a POST needs: ``Content-Length``
and chunked answers, answers ended by a close, ``1xx`` interim answers, ``Connection: close`` and
HTTP/1.0 servers.

The rule this module keeps: it tells *when* a failure happened. :class:`NotSent` means the request never
reached the server whole (connection refused, connect timeout, a write that failed): retrying cannot
double-send. :class:`NoAnswer` means the request was written and the answer never came (read timeout,
disconnect, an answer that is not HTTP): the server may have acted on it. A connection that sat idle and
turns out closed by the server (not a byte of answer) is retried once on a fresh connection before
anything is reported.
"""

from __future__ import annotations

import contextlib
import queue
import socket
import ssl
import time
from dataclasses import dataclass
from functools import lru_cache
from urllib.parse import urlsplit

__all__ = ["HttpClient", "HttpReply", "NoAnswer", "NotSent"]

IDLE_SECONDS = 4.0
"""A connection idle longer than this is not reused (servers commonly close idle ones after 5 s)."""


class NotSent(Exception):
    """The request did not reach the server whole: safe to retry."""


class NoAnswer(Exception):
    """The request was sent and no (complete) answer came: the server may have acted on it."""


@dataclass(frozen=True)
class HttpReply:
    """A response: status, headers (lower-case names) and body."""

    status: int
    headers: dict[str, str]
    body: bytes


MAX_HEAD = 65536
"""The longest status line and headers an answer may have (bytes)."""
_CHUNK = 65536
_FORBIDDEN_IN_HEADERS = ("\r", "\n", "\0")


class HttpClient:
    """Keep-alive connections to any number of origins, shared by threads; one SSL context for all."""

    def __init__(self, *, timeout: float, ca_file: str | None = None, max_idle: int = 32) -> None:
        self.timeout = timeout
        self._ssl = ssl.create_default_context(cafile=ca_file) if ca_file else ssl.create_default_context()
        self._idle: dict[tuple[str, str, int], queue.LifoQueue[tuple[float, _Connection]]] = {}
        self._max_idle = max_idle

    def post(self, url: str, body: bytes, headers: dict[str, str]) -> HttpReply:
        """POST ``body`` to ``url``; NotSent or NoAnswer when it fails (see the module doc)."""
        origin, target, host = _where(url)
        request = _request_bytes(target, host, body, headers)
        for _ in range(2):
            conn, reused = self._connection(origin)
            try:
                reply, keep = conn.exchange(request, self.timeout)
            except _StaleConnection:
                conn.close()
                if not reused:
                    raise NoAnswer("the server closed the connection without answering") from None
                continue
            except BaseException:
                conn.close()
                raise
            if keep:
                self._keep(origin, conn)
            else:
                conn.close()
            return reply
        raise NoAnswer("the server closed the connection without answering")

    def close(self) -> None:
        """Close every idle connection."""
        for pool in self._idle.values():
            while True:
                try:
                    _, conn = pool.get_nowait()
                except queue.Empty:
                    break
                conn.close()

    # -- plumbing ----------------------------------------------------------------------------------

    def _pool(self, origin: tuple[str, str, int]) -> queue.LifoQueue[tuple[float, _Connection]]:
        pool = self._idle.get(origin)
        if pool is None:
            pool = self._idle.setdefault(origin, queue.LifoQueue())
        return pool

    def _keep(self, origin: tuple[str, str, int], conn: _Connection) -> None:
        pool = self._pool(origin)
        if pool.qsize() < self._max_idle:
            pool.put((time.monotonic(), conn))
        else:
            conn.close()

    def _connection(self, origin: tuple[str, str, int]) -> tuple[_Connection, bool]:
        pool = self._pool(origin)
        now = time.monotonic()
        while True:
            try:
                since, conn = pool.get_nowait()
            except queue.Empty:
                break
            if now - since < IDLE_SECONDS:
                return conn, True
            conn.close()
        scheme, host, port = origin
        sock: socket.socket | None = None
        try:
            sock = socket.create_connection((host, port), timeout=self.timeout)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if scheme == "https":
                sock = self._ssl.wrap_socket(sock, server_hostname=host)
        except ssl.SSLCertVerificationError as exc:
            _close_quietly(sock)
            raise NotSent(f"TLS: {exc.verify_message or exc}") from exc
        except TimeoutError as exc:
            _close_quietly(sock)
            raise NotSent(f"connecting timed out after {self.timeout}s") from exc
        except OSError as exc:
            _close_quietly(sock)
            raise NotSent(f"cannot connect: {exc.__class__.__name__}: {exc}") from exc
        return _Connection(sock), False


class _Connection:
    """One open socket and what it has received but not yet read."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self._buffer = b""

    def close(self) -> None:
        _close_quietly(self.sock)

    def exchange(self, request: bytes, timeout: float) -> tuple[HttpReply, bool]:
        """Send ``request`` and read its answer; (the reply, whether the connection can be reused)."""
        try:
            self.sock.sendall(request)
        except (BrokenPipeError, ConnectionResetError) as exc:
            raise _StaleConnection() from exc
        except TimeoutError as exc:
            raise NotSent(f"sending the request timed out after {timeout}s") from exc
        except OSError as exc:
            raise NotSent(f"sending the request failed: {exc.__class__.__name__}: {exc}") from exc
        try:
            return self._reply()
        except TimeoutError as exc:
            raise NoAnswer(f"timed out after {timeout}s waiting for the answer") from exc
        except OSError as exc:
            raise NoAnswer(f"no answer: {exc.__class__.__name__}: {exc}") from exc

    # -- reading the answer ------------------------------------------------------------------------

    def _receive(self) -> bytes:
        data = self.sock.recv(_CHUNK)
        self._buffer += data
        return data

    def _reply(self) -> tuple[HttpReply, bool]:
        first = True
        while True:
            status, version, headers = self._head(first)
            first = False
            if 100 <= status < 200 and status != 101:
                continue  # an interim answer (100 Continue, 103 Early Hints): the real one follows
            break
        close = headers.get("connection", "").lower()
        keep = "close" not in close and (version != "HTTP/1.0" or "keep-alive" in close)
        if "chunked" in headers.get("transfer-encoding", "").lower():
            body = self._chunked()
        elif status in (204, 304):
            body = b""
        elif "content-length" in headers:
            try:
                length = int(headers["content-length"])
            except ValueError:
                raise NoAnswer(f"no answer: bad Content-Length {headers['content-length'][:40]!r}") from None
            if length < 0:
                raise NoAnswer("no answer: negative Content-Length")
            body = self._exactly(length)
        else:  # the answer ends when the server closes
            while self._receive():
                pass
            body, self._buffer, keep = self._buffer, b"", False
        if self._buffer:  # more than the answer: never reuse a connection in an unknown state
            keep = False
        return HttpReply(status, headers, body), keep

    def _head(self, first: bool) -> tuple[int, str, dict[str, str]]:
        while True:
            end = self._buffer.find(b"\r\n\r\n")
            if end >= 0:
                break
            if len(self._buffer) > MAX_HEAD:
                raise NoAnswer(f"no answer: the answer's headers are longer than {MAX_HEAD} bytes")
            if not self._receive():
                if first and not self._buffer:
                    raise _StaleConnection()  # closed before a byte of answer
                raise NoAnswer("no answer: the connection closed in the middle of the answer")
        head, self._buffer = self._buffer[:end].decode("iso-8859-1"), self._buffer[end + 4:]
        lines = head.split("\r\n")
        version, _, rest = lines[0].partition(" ")
        code = rest[:3]
        if not version.startswith("HTTP/") or len(code) != 3 or not code.isdigit():
            raise NoAnswer(f"no answer: not an HTTP status line: {lines[0][:60]!r}")
        headers: dict[str, str] = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        return int(code), version, headers

    def _exactly(self, length: int) -> bytes:
        while len(self._buffer) < length:
            if not self._receive():
                raise NoAnswer("no answer: the connection closed in the middle of the answer")
        body, self._buffer = self._buffer[:length], self._buffer[length:]
        return body

    def _line(self) -> bytes:
        while True:
            end = self._buffer.find(b"\r\n")
            if end >= 0:
                line, self._buffer = self._buffer[:end], self._buffer[end + 2:]
                return line
            if len(self._buffer) > MAX_HEAD or not self._receive():
                raise NoAnswer("no answer: a chunked answer broke off")

    def _chunked(self) -> bytes:
        parts: list[bytes] = []
        while True:
            size_text = self._line().split(b";", 1)[0].strip()
            try:
                size = int(size_text, 16)
            except ValueError:
                raise NoAnswer(f"no answer: bad chunk size {size_text[:20]!r}") from None
            if size == 0:
                while self._line():  # trailers, up to the empty line
                    pass
                return b"".join(parts)
            parts.append(self._exactly(size))
            if self._line():
                raise NoAnswer("no answer: a chunk did not end where its size said")


@lru_cache(maxsize=256)
def _where(url: str) -> tuple[tuple[str, str, int], str, str]:
    """(origin, request target, Host header) of ``url``, read once per URL; NotSent when it is no HTTP URL."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https") or not parts.hostname:
        raise NotSent(f"unsupported URL {parts.scheme}://{parts.hostname or ''}")
    port = parts.port or (443 if scheme == "https" else 80)
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return (scheme, parts.hostname, port), target, _host_header(parts.hostname, port, scheme)


def _host_header(host: str, port: int, scheme: str) -> str:
    shown = f"[{host}]" if ":" in host else host
    default = 443 if scheme == "https" else 80
    return shown if port == default else f"{shown}:{port}"


def _request_bytes(target: str, host: str, body: bytes, headers: dict[str, str]) -> bytes:
    """The whole request, ready for one ``sendall``. A header name or value holding a line break is
    refused (ValueError), as ``http.client`` refuses it: it would inject headers."""
    lines = [f"POST {target} HTTP/1.1", f"Host: {host}", "Accept-Encoding: identity"]
    for name, value in headers.items():
        if name.lower() in ("content-length", "host"):
            continue
        if any(bad in name or bad in value for bad in _FORBIDDEN_IN_HEADERS) or not name.strip():
            raise ValueError(f"invalid HTTP header {name!r}")
        lines.append(f"{name}: {value}")
    lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


def _close_quietly(sock: socket.socket | None) -> None:
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.close()


class _StaleConnection(Exception):
    """The server had closed the connection before our request (or closed it without a byte of answer)."""
