"""The channels' HTTP client against a real socket server on 127.0.0.1 answering with scripted bytes."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator

import pytest
from policy_engine_channels._http import HttpClient, NoAnswer


class ScriptedServer:
    """Accepts connections; answers the n-th request with the n-th script (bytes, or None: close at once),
    and closes the connection after the last script."""

    def __init__(self, answers: list[bytes | None]) -> None:
        self.answers = list(answers)
        self.requests: list[bytes] = []
        self.connections = 0
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}/send"
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.connections += 1
            threading.Thread(target=self._talk, args=(conn,), daemon=True).start()

    def _talk(self, conn: socket.socket) -> None:
        with conn:
            buffer = b""
            while self.answers:
                while b"\r\n\r\n" not in buffer:
                    data = conn.recv(65536)
                    if not data:
                        return
                    buffer += data
                head, _, rest = buffer.partition(b"\r\n\r\n")
                length = int(next(line.split(b":")[1] for line in head.split(b"\r\n")
                                  if line.lower().startswith(b"content-length")))
                while len(rest) < length:
                    rest += conn.recv(65536)
                self.requests.append(head + b"\r\n\r\n" + rest[:length])
                buffer = rest[length:]
                answer = self.answers.pop(0)
                if answer is None:
                    return
                conn.sendall(answer)
                if b"Connection: close" in answer or b"Content-Length" not in answer and b"chunked" not in answer:
                    return

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
def serve() -> Iterator[list[ScriptedServer]]:
    servers: list[ScriptedServer] = []
    yield servers
    for server in servers:
        server.close()


def _server(servers: list[ScriptedServer], answers: list[bytes | None]) -> ScriptedServer:
    server = ScriptedServer(answers)
    servers.append(server)
    return server


OK = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 11\r\n\r\n{\"id\": \"a\"}"


def test_keep_alive_answers_reuse_one_connection_and_the_request_is_whole(serve: list[ScriptedServer]) -> None:
    server = _server(serve, [OK, OK, OK])
    client = HttpClient(timeout=5)
    replies = [client.post(server.url + "?x=1", b'{"n": 1}', {"Idempotency-Key": "k-1"}) for _ in range(3)]
    assert [(r.status, r.body) for r in replies] == [(200, b'{"id": "a"}')] * 3
    assert server.connections == 1
    head, _, body = server.requests[0].partition(b"\r\n\r\n")
    assert head.split(b"\r\n")[0] == b"POST /send?x=1 HTTP/1.1"
    assert b"Idempotency-Key: k-1" in head and b"Content-Length: 8" in head and body == b'{"n": 1}'
    client.close()


def test_chunked_interim_and_close_delimited_answers_are_read_whole(serve: list[ScriptedServer]) -> None:
    chunked = (b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\nTransfer-Encoding: chunked\r\n\r\n"
               b"4;ext=1\r\n{\"id\r\n7\r\n\": \"b\"}\r\n0\r\nX-Trailer: t\r\n\r\n")
    until_close = b"HTTP/1.0 202 Accepted\r\nX-Request-Id: r-9\r\n\r\nqueued for later"
    server = _server(serve, [chunked, until_close])
    client = HttpClient(timeout=5)
    first = client.post(server.url, b"{}", {})
    assert (first.status, first.body) == (201, b'{"id": "b"}')
    second = client.post(server.url, b"{}", {})
    assert (second.status, second.body, second.headers["x-request-id"]) == (202, b"queued for later", "r-9")


def test_an_idle_connection_the_server_closed_is_retried_once_on_a_new_one(serve: list[ScriptedServer]) -> None:
    server = _server(serve, [OK, None, OK])  # the kept connection is closed when the second request comes
    client = HttpClient(timeout=5)
    assert client.post(server.url, b"{}", {}).status == 200
    assert client.post(server.url, b"{}", {}).status == 200
    assert server.connections == 2


@pytest.mark.parametrize("answer", [
    b"SSH-2.0-OpenSSH_9.2\r\n\r\n",                                  # not HTTP at all
    b"HTTP/1.1 200 OK\r\nContent-Length: 50\r\n\r\n{\"id\": ",        # cut short
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",  # a broken chunk
])
def test_a_request_sent_without_a_whole_answer_is_no_answer(serve: list[ScriptedServer], answer: bytes) -> None:
    server = _server(serve, [answer])  # then the server closes the connection
    with pytest.raises(NoAnswer):
        HttpClient(timeout=2).post(server.url, b"{}", {})


def test_a_header_holding_a_line_break_is_refused_before_anything_is_sent(serve: list[ScriptedServer]) -> None:
    server = _server(serve, [OK])
    with pytest.raises(ValueError, match="invalid HTTP header"):
        HttpClient(timeout=2).post(server.url, b"{}", {"Idempotency-Key": "k\r\nX-Admin: yes"})
    assert server.requests == []
