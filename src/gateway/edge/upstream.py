"""Upstream HTTP/1.1 connections and their keep-alive pool.

An ``UpstreamPool`` holds the idle connections to one origin (TCP host and
port, or a Unix socket: the control plane is one), hands one out per
exchange and takes it back when the response ended cleanly and the origin
keeps it alive. Responses are parsed by ``httptools`` and their bodies
pulled chunk by chunk, so nothing is buffered whole.

An idle connection must be silent: bytes an origin sends when no request is
outstanding (an unsolicited answer, with its ``Set-Cookie``) would be read
as the next client's answer. So a connection is not kept when its answer
came with bytes after the message's end, and an idle one that became
readable (bytes, or the origin's close) is dropped when it is taken out of
the pool: one ``poll`` of its socket, no wait.
"""

from __future__ import annotations

import contextlib
import math
import select
import socket
from collections import deque
from collections.abc import AsyncIterator
from dataclasses import dataclass
from urllib.parse import urlsplit

import httptools
import trio

from gateway.edge.streams import RawSocketStream
from gateway.edge.watchdog import Watchdog
from gateway.edge.wire import PLAIN_CONNECTION

RECEIVE_SIZE = 65_536
MAX_RESPONSE_HEAD = 65_536
CONNECT_RETRY_SECONDS = 0.005


class UpstreamError(Exception):
    """The origin could not be reached or broke the exchange (502)."""


class UpstreamTimeout(UpstreamError):
    """The origin did not answer in time (504)."""


class StaleConnection(UpstreamError):
    """A reused idle connection turned out closed before any answer byte:
    the request may be sent again on a new one."""


class BeyondMessage(Exception):
    """Raised inside the parser to stop it at the end of the answer."""


@dataclass(frozen=True, slots=True)
class Origin:
    """Where an upstream is: ``http://host:port[/base]`` or ``unix:/path``."""

    host: str
    port: int
    unix_path: str | None
    base_path: str
    host_header: bytes

    @classmethod
    def parse(cls, url: str) -> Origin:
        if url.startswith("unix:"):
            return cls("localhost", 0, url[5:], "", b"localhost")
        parts = urlsplit(url)
        if parts.scheme != "http" or not parts.hostname:
            raise ValueError(f"upstream {url!r}: only http://host[:port][/path] or unix:/path")
        port = parts.port or 80
        host_header = parts.netloc.rsplit("@", 1)[-1].encode("idna")
        return cls(parts.hostname, port, None, parts.path.rstrip("/"), host_header)

    def __str__(self) -> str:
        return f"unix:{self.unix_path}" if self.unix_path else f"{self.host}:{self.port}"


class UpstreamConnection:
    """One connection to an origin, parsing one response at a time."""

    def __init__(self, stream: RawSocketStream, pool: UpstreamPool) -> None:
        self.stream = stream
        self.pool = pool
        # Timeouts: the pool's watchdog closes the connection when the
        # deadline of the current wait passes, which ends that wait (no
        # cancel scope per exchange).
        self.deadline = math.inf
        self.timed_out = False
        self.reused = False
        self.idle_since = 0.0
        self._parser = httptools.HttpResponseParser(self)
        # Asked once per reuse whether the idle socket has anything to read.
        self._silence = select.poll()
        self._silence.register(stream.socket, select.POLLIN)
        self._reset()

    def _reset(self) -> None:
        self.status = 0
        self.headers: list[tuple[bytes, bytes]] = []
        self.head_done = False
        self.complete = False
        self.keep_alive = False
        self.upgraded_data: bytes | None = None
        self.received_any = False
        self.connection_tokens: set[bytes] | None = None  # names a Connection header lists
        self._head_size = 0
        self._chunks: deque[bytes] = deque()

    def silent(self) -> bool:
        """Nothing to read, no close and no error on the idle socket."""
        try:
            return not self._silence.poll(0)
        except OSError:
            return False

    # parser callbacks
    def on_message_begin(self) -> None:
        if self.complete and self.head_done:
            # Bytes after the answer's end: another answer nobody asked for.
            raise BeyondMessage()
        self.headers = []
        self.complete = False
        self.connection_tokens = None
        self._head_size = 0

    def on_header(self, name: bytes, value: bytes) -> None:
        self._head_size += len(name) + len(value)
        if self._head_size > MAX_RESPONSE_HEAD:
            raise UpstreamError("response head too large")
        if self.head_done:
            # A trailer (llhttp reports them as headers after the body): it
            # is dropped, never turned into a header of the answer (RFC 9110
            # 6.5.1), or an upstream could set one after the fact.
            return
        name = name.lower()
        if name == b"connection":
            tokens = {t.strip().lower() for t in value.split(b",")} - PLAIN_CONNECTION
            if tokens:
                self.connection_tokens = (self.connection_tokens or set()) | tokens
        self.headers.append((name, value))

    def on_headers_complete(self) -> None:
        status = self._parser.get_status_code()
        # Interim answers (100 Continue, 103 Early Hints) are dropped: the
        # client sees the final one.
        if status >= 200 or status == 101:
            self.status = status
            self.head_done = True

    def on_body(self, body: bytes) -> None:
        self._chunks.append(body)

    def on_message_complete(self) -> None:
        self.complete = True
        # Read it now: llhttp forgets it once the message is over.
        self.keep_alive = self._parser.should_keep_alive()

    def header_value(self, name: bytes) -> bytes | None:
        for key, value in self.headers:
            if key == name:
                return value
        return None

    def expire(self) -> None:
        """The deadline of the current wait passed (the watchdog calls this):
        closing the socket wakes the task waiting on it."""
        self.timed_out = True
        self.deadline = math.inf
        self.stream.close_now()

    async def send(self, data: bytes, timeout: float) -> None:
        self.deadline = self.pool.watchdog.now + timeout
        try:
            await self.stream.send_all(data)
        except (trio.BrokenResourceError, trio.ClosedResourceError) as error:
            if self.timed_out:
                raise UpstreamTimeout(f"sending to {self.pool.origin} timed out") from None
            if self.reused and not self.received_any:
                raise StaleConnection(str(error)) from None
            raise UpstreamError(f"send to {self.pool.origin} failed") from None
        finally:
            self.deadline = math.inf

    async def _receive(self, timeout: float) -> None:
        self.deadline = self.pool.watchdog.now + timeout
        try:
            data = await self.stream.receive_some(RECEIVE_SIZE)
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            data = b""
        finally:
            self.deadline = math.inf
        if self.timed_out:
            raise UpstreamTimeout(f"{self.pool.origin} did not answer in time")
        if not data:
            if self.reused and not self.received_any:
                raise StaleConnection("closed before answering")
            if self.head_done and not self.complete:
                # A body delimited by the close ends here.
                with contextlib.suppress(httptools.HttpParserError):
                    self._parser.feed_data(b"")
                self.complete = True
                return
            raise UpstreamError(f"{self.pool.origin} closed the connection mid-answer")
        self.received_any = True
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserUpgrade as upgrade:
            self.upgraded_data = data[int(upgrade.args[0]) :]
        except httptools.HttpParserError as error:
            if self.complete and self.head_done:
                # The answer is whole; what follows it is not: the
                # connection is not used again.
                self.keep_alive = False
                return
            raise UpstreamError(f"malformed answer from {self.pool.origin}: {error}") from None

    async def read_head(self, timeout: float, head_request: bool = False) -> None:
        """Receive until the response head is in."""
        while not self.head_done:
            await self._receive(timeout)
        if head_request or self.status in (204, 304):
            self.complete = True

    async def body_chunks(self, timeout: float) -> AsyncIterator[bytes]:
        while True:
            while self._chunks:
                yield self._chunks.popleft()
            if self.complete:
                return
            await self._receive(timeout)

    def take_buffered(self) -> bytes:
        data = b"".join(self._chunks)
        self._chunks.clear()
        return data


class UpstreamPool:
    """Idle keep-alive connections to one origin, newest first."""

    def __init__(
        self,
        origin: Origin,
        watchdog: Watchdog,
        *,
        max_idle: int = 64,
        idle_timeout: float = 20.0,
        connect_timeout: float = 5.0,
    ) -> None:
        self.origin = origin
        self.watchdog = watchdog
        self.max_idle = max_idle
        self.idle_timeout = idle_timeout
        self.connect_timeout = connect_timeout
        self._idle: deque[UpstreamConnection] = deque()
        self.connects = 0

    async def acquire(self, *, fresh: bool = False) -> UpstreamConnection:
        now = trio.current_time()
        while self._idle and not fresh:
            connection = self._idle.pop()
            if now - connection.idle_since < self.idle_timeout and connection.silent():
                connection.reused = True
                connection._reset()
                self.watchdog.watch(connection)
                return connection
            await _close(connection.stream)
        return await self._connect()

    async def _connect(self) -> UpstreamConnection:
        origin = self.origin
        with trio.move_on_after(self.connect_timeout) as scope:
            try:
                if origin.unix_path is not None:
                    stream = await _connect_unix(origin.unix_path)
                else:
                    opened = await trio.open_tcp_stream(origin.host, origin.port)
                    stream = RawSocketStream.adopt(opened)
            except OSError as error:
                raise UpstreamError(f"cannot connect to {origin}: {error.strerror}") from None
        if scope.cancelled_caught:
            raise UpstreamTimeout(f"connecting to {origin} timed out")
        self.connects += 1
        connection = UpstreamConnection(stream, self)
        self.watchdog.watch(connection)
        return connection

    async def release(self, connection: UpstreamConnection) -> None:
        """Keep the connection for the next exchange if its answer ended
        cleanly and the origin keeps it alive; close it otherwise."""
        self.watchdog.forget(connection)
        if (
            connection.complete
            and connection.upgraded_data is None
            and connection.keep_alive
            and len(self._idle) < self.max_idle
        ):
            connection.idle_since = trio.current_time()
            self._idle.append(connection)
        else:
            await _close(connection.stream)

    async def discard(self, connection: UpstreamConnection) -> None:
        self.watchdog.forget(connection)
        await _close(connection.stream)

    async def aclose(self) -> None:
        while self._idle:
            await _close(self._idle.pop().stream)


async def _connect_unix(path: str) -> RawSocketStream:
    """Connect to a Unix socket. One whose listen backlog is full refuses at
    once with EAGAIN (where TCP would retry its SYN, and where
    ``trio.open_unix_socket`` would hand back an unconnected socket): wait a
    moment and try again, until the caller's deadline."""
    while True:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.setblocking(False)
        try:
            sock.connect(path)
        except BlockingIOError:
            sock.close()
            await trio.sleep(CONNECT_RETRY_SECONDS)
            continue
        except OSError:
            sock.close()
            raise
        return RawSocketStream(sock)


async def _close(stream: RawSocketStream) -> None:
    stream.close_now()
