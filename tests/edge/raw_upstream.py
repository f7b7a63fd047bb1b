"""A hand-written HTTP/1.1 upstream, for the shapes a well-behaved server
(Hypercorn, which computes its own handshake answer and frames every
response through h11) never sends, and a gateway in front of it.

It runs on threads of the test process, so a test can tell it when to act
(``event(name).set()``) and read what it saw (``queue(name)``), without
sleeping. Every route of ``edge_config`` points at it. By the last segment
of the path:

- ``ws?tag=T``: a WebSocket echo (wsproto); the Close frame it receives goes
  to ``queue("close:T")`` as ``(code, reason)``, a close without one as
  ``(None, None)``;
- ``ws-bad-accept?tag=T``: ``101`` with a wrong ``Sec-WebSocket-Accept``;
  ``ws-h2c?tag=T``: ``101`` to ``h2c`` with the right one; ``ws-no-accept``:
  ``101`` without it; each then sets ``event("closed:T")`` once the gateway
  closes the connection;
- any other request that carries ``Upgrade``: ``101`` to whatever it names
  (an upstream that would speak h2c), then an echo of raw bytes;
- ``double``: an answer and a second one nobody asked for, in one write;
- ``trailers``: a chunked answer whose trailers say ``x-t`` and
  ``set-cookie``;
- ``unsolicited?tag=T``: an answer; after ``event("send:T")``, a second
  one nobody asked for, then ``event("sent:T")``;
- ``drip?tag=T``: a chunked answer's first chunk (``first``); after
  ``event("send:T")`` a second (``second``); ``event("closed:T")`` once
  the gateway closes the connection;
- anything else: JSON ``{method, target, headers, connection}``.

Every answer has ``x-connection``: which upstream connection served it.
"""

from __future__ import annotations

import json
import queue
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httptools
import pytest
import wsproto
import wsproto.events

from tests.edge.conftest import edge_config
from tests.http.harness import GatewayProcess

WAIT = 10.0
UNSOLICITED = b"HTTP/1.1 200 OK\r\nset-cookie: stolen=1\r\ncontent-length: 6\r\n\r\nstolen"


@dataclass
class Seen:
    method: str = ""
    target: str = ""
    headers: list[tuple[str, str]] = field(default_factory=list)

    @property
    def name(self) -> str:
        return urlsplit(self.target).path.rsplit("/", 1)[-1]

    @property
    def tag(self) -> str:
        return parse_qs(urlsplit(self.target).query).get("tag", [""])[0]

    def header(self, name: str) -> str | None:
        return next((v for k, v in self.headers if k == name), None)


class _Parser:
    """httptools callbacks: whole request heads, in order."""

    def __init__(self) -> None:
        self.ready: list[Seen] = []
        self._current = Seen()
        self.parser = httptools.HttpRequestParser(self)

    def on_url(self, url: bytes) -> None:
        self._current.target += url.decode("latin-1")

    def on_header(self, name: bytes, value: bytes) -> None:
        self._current.headers.append((name.decode("latin-1").lower(), value.decode("latin-1")))

    def on_headers_complete(self) -> None:
        self._current.method = self.parser.get_method().decode()
        self.ready.append(self._current)
        self._current = Seen()


class RawUpstream:
    def __init__(self) -> None:
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self._listener.getsockname()[1]}"
        self._lock = threading.Lock()
        self._events: dict[str, threading.Event] = {}
        self._queues: dict[str, queue.Queue[Any]] = {}
        self._connections = 0
        threading.Thread(target=self._accept, daemon=True).start()

    def event(self, name: str) -> threading.Event:
        with self._lock:
            return self._events.setdefault(name, threading.Event())

    def queue(self, name: str) -> queue.Queue[Any]:
        with self._lock:
            return self._queues.setdefault(name, queue.Queue())

    def stop(self) -> None:
        self._listener.close()

    def _accept(self) -> None:
        while True:
            try:
                sock, _ = self._listener.accept()
            except OSError:
                return
            self._connections += 1
            number = self._connections
            threading.Thread(target=self._serve, args=(sock, number), daemon=True).start()

    def _serve(self, sock: socket.socket, number: int) -> None:
        with sock:
            parser = _Parser()
            try:
                while data := sock.recv(65536):
                    try:
                        parser.parser.feed_data(data)
                    except httptools.HttpParserUpgrade as upgrade:
                        seen = parser.ready.pop()
                        self._upgrade(sock, seen, data[int(upgrade.args[0]) :], number)
                        return
                    while parser.ready:
                        self._answer(sock, parser.ready.pop(0), number)
            except OSError:
                return

    def _answer(self, sock: socket.socket, seen: Seen, number: int) -> None:
        mark = b"x-connection: %d\r\n" % number
        if seen.name == "double":
            sock.sendall(_plain(b"first", mark) + UNSOLICITED)
        elif seen.name == "trailers":
            sock.sendall(
                b"HTTP/1.1 200 OK\r\n%stransfer-encoding: chunked\r\ntrailer: x-t\r\n\r\n"
                b"2\r\nok\r\n0\r\nx-t: 1\r\nset-cookie: t=1\r\n\r\n" % mark
            )
        elif seen.name == "unsolicited":
            sock.sendall(_plain(b"first", mark))
            self.event("send:" + seen.tag).wait(WAIT)
            sock.sendall(UNSOLICITED)
            self.event("sent:" + seen.tag).set()
        elif seen.name == "drip":
            sock.sendall(
                b"HTTP/1.1 200 OK\r\n%stransfer-encoding: chunked\r\n\r\n5\r\nfirst\r\n" % mark
            )
            self.event("send:" + seen.tag).wait(WAIT)
            try:
                sock.sendall(b"6\r\nsecond\r\n")
                _wait_for_close(sock)
            finally:
                self.event("closed:" + seen.tag).set()
        else:
            view = {
                "method": seen.method,
                "target": seen.target,
                "headers": seen.headers,
                "connection": number,
            }
            sock.sendall(
                _plain(json.dumps(view).encode(), mark + b"content-type: application/json\r\n")
            )

    def _upgrade(self, sock: socket.socket, seen: Seen, rest: bytes, number: int) -> None:
        key = (seen.header("sec-websocket-key") or "").encode()
        if seen.name == "ws":
            self._echo_websocket(sock, seen, rest)
            return
        if seen.name in ("ws-bad-accept", "ws-h2c", "ws-no-accept"):
            from gateway.edge.websocket import accept_value

            upgrade, accept = b"websocket", b"sec-websocket-accept: %s\r\n" % accept_value(key)
            if seen.name == "ws-bad-accept":
                accept = b"sec-websocket-accept: %s\r\n" % accept_value(b"another key")
            elif seen.name == "ws-h2c":
                upgrade = b"h2c"
            else:
                accept = b""
            sock.sendall(
                b"HTTP/1.1 101 Switching Protocols\r\nconnection: upgrade\r\nupgrade: %s\r\n%s\r\n"
                % (upgrade, accept)
            )
            try:
                _wait_for_close(sock)
            finally:
                self.event("closed:" + seen.tag).set()
            return
        # An upstream that switches to whatever it is asked (h2c, ...).
        sock.sendall(
            b"HTTP/1.1 101 Switching Protocols\r\nconnection: upgrade\r\nupgrade: %s\r\n"
            b"x-connection: %d\r\n\r\n" % ((seen.header("upgrade") or "").encode(), number)
        )
        data = rest
        while data:
            sock.sendall(data)
            data = sock.recv(65536)

    def _echo_websocket(self, sock: socket.socket, seen: Seen, rest: bytes) -> None:
        connection = wsproto.WSConnection(wsproto.ConnectionType.SERVER)
        head = f"{seen.method} {seen.target} HTTP/1.1\r\n"
        head += "".join(f"{name}: {value}\r\n" for name, value in seen.headers) + "\r\n"
        connection.receive_data(head.encode("latin-1") + rest)
        closes = self.queue("close:" + seen.tag)
        while True:
            for event in connection.events():
                if isinstance(event, wsproto.events.Request):
                    sock.sendall(connection.send(wsproto.events.AcceptConnection()))
                elif isinstance(event, wsproto.events.TextMessage):
                    out = wsproto.events.TextMessage(data="echo:" + event.data)
                    sock.sendall(connection.send(out))
                elif isinstance(event, wsproto.events.CloseConnection):
                    closes.put((event.code, event.reason))
                    sock.sendall(connection.send(event.response()))
                    return
            try:
                data = sock.recv(65536)
            except OSError:
                data = b""
            if not data:
                closes.put((None, None))
                return
            connection.receive_data(data)


def _plain(body: bytes, extra: bytes = b"") -> bytes:
    return b"HTTP/1.1 200 OK\r\n%scontent-length: %d\r\n\r\n%s" % (extra, len(body), body)


def _wait_for_close(sock: socket.socket) -> None:
    sock.settimeout(WAIT)
    try:
        while sock.recv(65536):
            pass
    except OSError:
        pass


@pytest.fixture(scope="module", name="raw_upstream")
def raw_upstream_fixture() -> Iterator[RawUpstream]:
    server = RawUpstream()
    yield server
    server.stop()


@pytest.fixture(scope="module", name="raw_gateway")
def raw_gateway_fixture(
    tmp_path_factory: pytest.TempPathFactory, raw_upstream: RawUpstream
) -> Iterator[GatewayProcess]:
    """A gateway whose every route leads to the raw upstream."""
    data = tmp_path_factory.mktemp("raw-edge") / "data"
    process = GatewayProcess(data, edge_config(raw_upstream.url)).start()
    yield process
    process.stop()
