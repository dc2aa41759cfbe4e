"""One pooled HTTP/1.1 client per channel: keep-alive connections reused across sends and threads.

Why not a new request (and a new TLS context) per send: building an SSL context and a TCP connection for
every message cost more than the message itself. Why the standard library's ``http.client`` under a small
pool of our own, rather than a full client library: on this workload (small JSON POSTs to one gateway) a
pooled ``httpx.Client`` measured about 700 requests/s on one core, ``http.client`` on a kept-alive
connection about 3,500/s, and the gateway's own rate is the point (see ``benchmarks/bench_dispatch.py``).

The rule this module keeps: it tells *when* a failure happened. :class:`NotSent` means the request never
reached the server whole (connection refused, connect timeout, a write that failed): retrying cannot
double-send. :class:`NoAnswer` means the request was written and the answer never came (read timeout,
disconnect): the server may have acted on it. A connection that sat idle and turns out closed by the
server is retried once on a fresh connection before anything is reported.
"""

from __future__ import annotations

import http.client
import queue
import socket
import ssl
import time
from dataclasses import dataclass
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


class HttpClient:
    """Keep-alive connections to any number of origins, shared by threads; one SSL context for all."""

    def __init__(self, *, timeout: float, ca_file: str | None = None, max_idle: int = 32) -> None:
        self.timeout = timeout
        self._ssl = ssl.create_default_context(cafile=ca_file) if ca_file else ssl.create_default_context()
        self._idle: dict[tuple[str, str, int], queue.LifoQueue[tuple[float, http.client.HTTPConnection]]] = {}
        self._max_idle = max_idle

    def post(self, url: str, body: bytes, headers: dict[str, str]) -> HttpReply:
        """POST ``body`` to ``url``; NotSent or NoAnswer when it fails (see the module doc)."""
        parts = urlsplit(url)
        scheme = parts.scheme.lower()
        if scheme not in ("http", "https") or not parts.hostname:
            raise NotSent(f"unsupported URL {parts.scheme}://{parts.hostname or ''}")
        port = parts.port or (443 if scheme == "https" else 80)
        origin = (scheme, parts.hostname, port)
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        for _ in range(2):
            conn, reused = self._connection(origin)
            try:
                return self._exchange(conn, origin, target, body, headers)
            except _StaleConnection:
                conn.close()
                if not reused:
                    raise NoAnswer("the server closed the connection without answering") from None
            except BaseException:
                conn.close()
                raise
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

    def _connection(self, origin: tuple[str, str, int]) -> tuple[http.client.HTTPConnection, bool]:
        pool = self._idle.setdefault(origin, queue.LifoQueue())
        now = time.monotonic()
        while True:
            try:
                since, conn = pool.get_nowait()
            except queue.Empty:
                break
            if now - since < IDLE_SECONDS and conn.sock is not None:
                return conn, True
            conn.close()
        scheme, host, port = origin
        if scheme == "https":
            fresh: http.client.HTTPConnection = http.client.HTTPSConnection(host, port, timeout=self.timeout,
                                                                            context=self._ssl)
        else:
            fresh = http.client.HTTPConnection(host, port, timeout=self.timeout)
        try:
            fresh.connect()
            if fresh.sock is not None:
                fresh.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except ssl.SSLCertVerificationError as exc:
            fresh.close()
            raise NotSent(f"TLS: {exc.verify_message or exc}") from exc
        except TimeoutError as exc:
            fresh.close()
            raise NotSent(f"connecting timed out after {self.timeout}s") from exc
        except OSError as exc:
            fresh.close()
            raise NotSent(f"cannot connect: {exc.__class__.__name__}: {exc}") from exc
        return fresh, False

    def _exchange(self, conn: http.client.HTTPConnection, origin: tuple[str, str, int], target: str, body: bytes,
                  headers: dict[str, str]) -> HttpReply:
        try:
            conn.request("POST", target, body=body, headers={**headers, "Content-Length": str(len(body))})
        except (BrokenPipeError, ConnectionResetError) as exc:
            raise _StaleConnection() from exc
        except TimeoutError as exc:
            raise NotSent(f"sending the request timed out after {self.timeout}s") from exc
        except OSError as exc:
            raise NotSent(f"sending the request failed: {exc.__class__.__name__}: {exc}") from exc
        try:
            response = conn.getresponse()
            data = response.read()
        except http.client.RemoteDisconnected as exc:
            raise _StaleConnection() from exc
        except TimeoutError as exc:
            raise NoAnswer(f"timed out after {self.timeout}s waiting for the answer") from exc
        except (OSError, http.client.HTTPException) as exc:
            raise NoAnswer(f"no answer: {exc.__class__.__name__}: {exc}") from exc
        reply = HttpReply(response.status, {k.lower(): v for k, v in response.getheaders()}, data)
        if response.will_close:
            conn.close()
        else:
            pool = self._idle.setdefault(origin, queue.LifoQueue())
            if pool.qsize() < self._max_idle:
                pool.put((time.monotonic(), conn))
            else:
                conn.close()
        return reply


class _StaleConnection(Exception):
    """The server had closed the connection before our request (or closed it without a byte of answer)."""
