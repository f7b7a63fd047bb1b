"""HTTP/1.1 connections of the data plane: bytes in, requests out.

One Trio task per connection drives an ``httptools`` (llhttp) parser; the
parser's callbacks fill one small ``Request`` per message and a queue holds
pipelined ones, as uvicorn's httptools protocol does. Nothing here knows of
sessions: a ``Handler`` takes each request and answers through the
connection.

The parser is llhttp in its strict mode, which refuses the request
smuggling shapes (Content-Length with Transfer-Encoding, duplicate or signed
Content-Length, bare LF, obs-fold, bad chunk sizes); every such refusal is a
400 and a close. On top of it, every limit is a setting (``HttpConfig``):

- header bytes and count (431), body bytes (413: the body is not read
  further and the connection closes), request-target length (414);
- a header-read deadline from a request's first byte (a slowloris holds its
  connection no longer than that), a body deadline between chunks, an idle
  keep-alive deadline between requests, a send deadline;
- a whole-request deadline (head and body) for the gateway's own endpoints,
  and for every body a minimum rate, as Apache's mod_reqtimeout has it: a
  body may take ``body_timeout`` plus one second per ``min_body_rate``
  bytes received (a route allowing big uploads gets the rate only);
- keep-alive and pipelining as the client asks, ``Connection: close`` and
  HTTP/1.0 honoured.

Beyond llhttp, as RFC 9112 asks: an HTTP/1.1 request needs exactly one
Host (3.2), and HTTP/1.0 with Transfer-Encoding is faulty framing (6.1);
both are 400 and a close. Trailers are dropped (llhttp reports them as
headers after the body; they must never act as headers), and so are header
names with ``_``, as nginx does by default: CGI, WSGI and PHP fold ``-`` and
``_`` together, so ``X_Auth_User`` would pass for ``X-Auth-User`` upstream.
A final answer sent before a body announced with ``Expect: 100-continue``
was asked for ends that body: no ``100 Continue`` after it, and the
connection closes, as the client will not send the body.

Bodies are pulled, not pushed: the socket is read only when a handler asks
for more body or the next request, so a 1 GB upload moves through in
bounded memory.
"""

from __future__ import annotations

import contextlib
import logging
import math
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass

import httptools
import trio

from gateway.edge.streams import RawSocketStream
from gateway.edge.watchdog import Watchdog
from gateway.edge.wire import (
    PLAIN_CONNECTION,
    Headers,
    PayloadTooLarge,
    ProtocolError,
    encode_headers,
    http_date,
    status_line,
)
from gateway.errors import GatewayError, InternalError
from gateway.http.wire import error_response

log = logging.getLogger("gateway.edge")

RECEIVE_SIZE = 65_536
DRAIN_LIMIT = 65_536  # body bytes read and dropped after an answer, to keep a connection
LINGER_BYTES = 1 << 20  # read and dropped after a refusal, before the close
LINGER_SECONDS = 2.0
_UNDERSCORE = ord("_")


@dataclass(frozen=True, slots=True)
class ConnectionLimits:
    max_header_bytes: int = 16_384
    max_headers: int = 100
    max_body_bytes: int = 65_536  # unless the handler allows more for a request
    header_timeout: float = 10.0
    idle_timeout: float = 30.0
    body_timeout: float = 30.0
    send_timeout: float = 30.0
    request_timeout: float = 60.0
    min_body_rate: float = 500.0  # bytes/s; 0: none


class Request:
    """One parsed request. ``headers`` names are lower-case bytes."""

    __slots__ = (
        "_chunks",
        "_connection",
        "body_limit",
        "body_started",
        "body_seen",
        "chunked",
        "complete",
        "connection_tokens",
        "content_length",
        "deadline",
        "expect_continue",
        "headers",
        "keep_alive",
        "method",
        "target",
        "upgrade",
        "version",
    )

    def __init__(self, connection: HttpConnection) -> None:
        self._connection = connection
        self.method = ""
        self.target = b""
        self.version = "1.1"
        self.headers: Headers = []
        self.keep_alive = True
        self.upgrade = False
        self.complete = False
        self.chunked = False
        self.content_length: int | None = None
        self.expect_continue = False
        # Header names a Connection header lists (hop-by-hop for a proxy);
        # None when it lists none beyond keep-alive/close, as is usual.
        self.connection_tokens: frozenset[bytes] | None = None
        self._chunks: deque[bytes] = deque()
        self.body_seen = 0
        self.body_limit = connection.limits.max_body_bytes
        # When the whole request (head and body) must be in; the body's own
        # minimum rate is reckoned from ``body_started``.
        self.deadline = math.inf
        self.body_started = 0.0

    @property
    def path(self) -> bytes:
        end = self.target.find(b"?")
        return self.target if end < 0 else self.target[:end]

    @property
    def query(self) -> bytes:
        end = self.target.find(b"?")
        return b"" if end < 0 else self.target[end + 1 :]

    def header(self, name: bytes) -> bytes | None:
        for key, value in self.headers:
            if key == name:
                return value
        return None

    @property
    def has_body(self) -> bool:
        return self.chunked or bool(self.content_length)

    def allow_body(self, limit: int) -> None:
        """Raise (or lower) this request's body limit before reading it; a
        declared Content-Length over it is refused at once. A limit beyond
        the gateway's own (a route for uploads) lifts the whole-request
        deadline: a big body at a fair rate may take its time."""
        self.body_limit = limit
        if limit > self._connection.limits.max_body_bytes:
            self.deadline = math.inf
        if self.content_length is not None and self.content_length > limit:
            raise PayloadTooLarge()

    async def body_chunks(self) -> AsyncIterator[bytes]:
        """The body, chunk by chunk, read from the socket as it is asked for."""
        connection = self._connection
        if self.expect_continue and not self.complete and not self._chunks:
            if connection.response_started:
                # The client waits for a 100 that must not follow a final
                # answer: it will not send this body.
                connection.keep_alive = False
                raise _Closed()
            self.expect_continue = False
            await connection.send(b"HTTP/1.1 100 Continue\r\n\r\n")
        while True:
            if self.body_seen > self.body_limit:
                raise PayloadTooLarge()
            while self._chunks:
                yield self._chunks.popleft()
            if self.complete:
                return
            await connection.read_more(connection.body_deadline(self))

    async def read_body(self) -> bytes:
        """The whole body, within ``body_limit`` (else ``PayloadTooLarge``)."""
        parts = [chunk async for chunk in self.body_chunks()]
        return b"".join(parts)


Handler = Callable[[Request, "HttpConnection"], Awaitable[None]]


class _Closed(Exception):
    """The peer went away or a deadline passed: close without answering."""


class HttpConnection:
    """One client connection. ``serve()`` runs until it closes."""

    def __init__(
        self,
        stream: trio.abc.Stream,
        peer: str,
        limits: ConnectionLimits,
        handler: Handler,
        watchdog: Watchdog,
        scheme: str = "http",
    ) -> None:
        self.stream = stream
        self._watchdog = watchdog
        self.deadline = math.inf  # when the current wait ends the connection
        self.timed_out = False
        self._scope = trio.CancelScope()
        self.peer = peer
        self.scheme = scheme
        self.limits = limits
        self._handler = handler
        self._parser = httptools.HttpRequestParser(self)
        self._ready: deque[Request] = deque()
        self._parsing: Request | None = None
        self._head_bytes = 0
        self._head_started = 0.0
        self._error: ProtocolError | None = None
        self._eof = False
        self.upgraded_data: bytes | None = None  # bytes after an Upgrade request's head
        self.keep_alive = True  # False once either side wants the connection closed
        self.response_started = False
        self._chunked_response = False

    # --- parser callbacks ------------------------------------------------------

    def on_message_begin(self) -> None:
        self._parsing = Request(self)
        self._head_bytes = 0
        self._head_started = self._watchdog.now

    def on_url(self, url: bytes) -> None:
        request = self._parsing
        assert request is not None
        request.target += url
        self._head_bytes += len(url)
        if len(request.target) > self.limits.max_header_bytes:
            self._fail(ProtocolError("Request target too long", 414))

    def on_header(self, name: bytes, value: bytes) -> None:
        request = self._parsing
        assert request is not None
        self._head_bytes += len(name) + len(value) + 4
        headers = request.headers
        if (
            self._head_bytes > self.limits.max_header_bytes
            or len(headers) >= self.limits.max_headers
        ):
            self._fail(ProtocolError("Request header fields too large", 431))
        # A method is set once the head is over: this is a trailer. Trailers
        # and names with "_" are dropped (see the module's docstring); they
        # still count against the header bytes. (An int's membership is a
        # memchr; b"_" in name would cost ten times as much.)
        if request.method or _UNDERSCORE in name:
            return
        headers.append((name.lower(), value))

    def on_headers_complete(self) -> None:
        request = self._parsing
        assert request is not None
        parser = self._parser
        request.method = parser.get_method().decode("ascii")
        request.version = version = parser.get_http_version()
        if version != "1.1" and version != "1.0":
            if version == "0.9":  # a request line without a version: malformed here
                self._fail(ProtocolError("Malformed request line"))
            self._fail(ProtocolError("HTTP version not supported", 505))
        request.keep_alive = parser.should_keep_alive()
        request.upgrade = parser.should_upgrade()
        hosts = 0
        for name, value in request.headers:
            if name == b"host":
                hosts += 1
            elif name == b"content-length":
                request.content_length = int(value)
            elif name == b"transfer-encoding":
                # Only chunked alone: another coding (gzip, chunked) would be
                # dropped on the way and its bytes passed on as if plain.
                if request.chunked or value.strip().lower() != b"chunked":
                    self._fail(ProtocolError("Only Transfer-Encoding: chunked is accepted"))
                request.chunked = True
            elif name == b"expect" and value.lower() == b"100-continue":
                request.expect_continue = True
            elif name == b"connection":
                tokens = {t.strip().lower() for t in value.split(b",")} - PLAIN_CONNECTION
                if tokens:
                    request.connection_tokens = (request.connection_tokens or frozenset()) | tokens
        if hosts != 1 and (hosts or version == "1.1"):
            self._fail(ProtocolError("A request needs exactly one Host header"))
        if request.chunked and version == "1.0":
            self._fail(ProtocolError("Transfer-Encoding in an HTTP/1.0 request"))
        request.deadline = self._head_started + self.limits.request_timeout
        request.body_started = self._watchdog.now
        if not request.has_body:
            request.complete = True
        self._ready.append(request)

    def on_body(self, body: bytes) -> None:
        request = self._parsing
        assert request is not None
        # The limit is checked where the body is consumed: the handler may
        # raise it first (a streaming route), and at most one receive is
        # buffered before it does.
        request.body_seen += len(body)
        request._chunks.append(body)

    def on_message_complete(self) -> None:
        request = self._parsing
        assert request is not None
        request.complete = True
        self._parsing = None

    def _fail(self, error: ProtocolError) -> None:
        self._error = error
        raise error  # stops llhttp; feed() reports it

    # --- reading ---------------------------------------------------------------

    def _feed(self, data: bytes) -> None:
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserUpgrade as upgrade:
            offset = int(upgrade.args[0])
            self.upgraded_data = data[offset:]
        except httptools.HttpParserError as error:
            if self._error is not None:
                raise self._error from None
            raise ProtocolError(f"Malformed HTTP request: {error}") from None

    def body_deadline(self, request: Request) -> float:
        """When the next piece of ``request``'s body must be in: within
        ``body_timeout`` of now, the whole request's deadline, and the
        minimum rate (``body_timeout`` of grace, then a second more for
        every ``min_body_rate`` bytes received)."""
        limits = self.limits
        deadline = self._watchdog.now + limits.body_timeout
        if request.deadline < deadline:
            deadline = request.deadline
        if limits.min_body_rate:
            by_rate = (
                request.body_started
                + limits.body_timeout
                + request.body_seen / limits.min_body_rate
            )
            if by_rate < deadline:
                deadline = by_rate
        return deadline

    async def read_more(self, deadline: float) -> None:
        """Receive once (by ``deadline``, trio time) and feed the parser;
        EOF in mid-message is a close."""
        if self._eof or self.upgraded_data is not None:
            raise _Closed()
        self.deadline = deadline
        data = bytes(await self.stream.receive_some(RECEIVE_SIZE))
        self.deadline = math.inf
        if not data:
            self._eof = True
            raise _Closed()
        self._feed(data)

    async def _next_request(self) -> Request | None:
        ready = self._ready
        if ready:
            return ready.popleft()
        self.deadline = self._watchdog.now + self.limits.idle_timeout
        while not ready:
            if self._parsing is not None:
                # A request has begun: its head must be in within
                # header_timeout of its first byte, however slowly it
                # trickles (slowloris).
                self.deadline = self._head_started + self.limits.header_timeout
            if self._eof or self.upgraded_data is not None:
                return None
            data = bytes(await self.stream.receive_some(RECEIVE_SIZE))
            if not data:
                self._eof = True
                return None
            self._feed(data)
        self.deadline = math.inf
        return ready.popleft()

    # --- writing ---------------------------------------------------------------

    async def send(self, data: bytes) -> None:
        self.deadline = self._watchdog.now + self.limits.send_timeout
        await self.stream.send_all(data)
        self.deadline = math.inf

    def _framing(
        self,
        request: Request,
        headers: Headers | bytes,
        length: int | None,
        bodiless: bool = False,
    ) -> bytes:
        """Head lines after the status line: the handler's headers, then
        Date, framing and Connection. ``bodiless``: an answer to HEAD, a 204
        or a 304, whose ``length`` (if any) describes a body not sent."""
        keep_alive = self.keep_alive and request.keep_alive
        if request.expect_continue and not request.complete:
            keep_alive = False  # a body that was not asked for will not come
        parts = [
            headers if isinstance(headers, bytes) else encode_headers(headers),
            http_date.line,
        ]
        if bodiless:
            if length is not None:
                parts.append(b"content-length: %d\r\n" % length)
            self._chunked_response = False
        elif length is not None:
            parts.append(b"content-length: %d\r\n" % length)
            self._chunked_response = False
        elif request.version == "1.1":
            parts.append(b"transfer-encoding: chunked\r\n")
            self._chunked_response = True
        else:  # HTTP/1.0 without a length: the close ends the body
            keep_alive = False
            self._chunked_response = False
        if not keep_alive:
            parts.append(b"connection: close\r\n")
            self.keep_alive = False
        elif request.version == "1.0":
            parts.append(b"connection: keep-alive\r\n")
        parts.append(b"\r\n")
        return b"".join(parts)

    async def respond(
        self, request: Request, status: int, headers: Headers | bytes, body: bytes
    ) -> None:
        """A whole answer (``headers`` without framing headers)."""
        self.response_started = True
        head = status_line(status) + self._framing(request, headers, len(body))
        await self.send(head + body if request.method != "HEAD" else head)

    async def start_response(
        self,
        request: Request,
        status: int,
        headers: Headers | bytes,
        length: int | None,
        *,
        bodiless: bool = False,
    ) -> None:
        """A streamed answer: then ``send_body`` and ``end_response``."""
        self.response_started = True
        head = status_line(status) + self._framing(request, headers, length, bodiless)
        await self.send(head)

    async def send_body(self, chunk: bytes) -> None:
        if not chunk:
            return
        if self._chunked_response:
            await self.send(b"%x\r\n%s\r\n" % (len(chunk), chunk))
        else:
            await self.send(chunk)

    async def end_response(self) -> None:
        if self._chunked_response:
            await self.send(b"0\r\n\r\n")

    async def respond_error(self, request: Request | None, error: GatewayError) -> None:
        status, headers, payload = error_response(error)
        headers = [(k, v) for k, v in headers if k != b"content-length"]
        if request is None:
            request = Request(self)
        await self.respond(request, status, headers, payload)

    # --- the connection's life -------------------------------------------------

    def expire(self) -> None:
        """A deadline passed (the watchdog calls this)."""
        self.timed_out = True
        self._scope.cancel()

    async def serve(self) -> None:
        self._watchdog.watch(self)
        try:
            with self._scope:
                await self._serve()
            if self.timed_out and self._parsing is not None and not self.response_started:
                # A request that did not come in time: say so, then close.
                late = "body" if self._parsing.method else "header"
                self.deadline = self._watchdog.now + 1.0
                self._scope = trio.CancelScope()
                with self._scope:
                    await self._refuse(ProtocolError(f"Request {late} timeout", 408))
        except (_Closed, trio.BrokenResourceError, trio.ClosedResourceError):
            pass
        finally:
            self._watchdog.forget(self)
            with trio.CancelScope(shield=True), trio.move_on_after(1):
                await self.stream.aclose()

    async def _serve(self) -> None:
        while self.keep_alive:
            try:
                request = await self._next_request()
            except ProtocolError as error:
                await self._refuse(error)
                return
            if request is None:
                return
            self.response_started = False
            try:
                await self._handler(request, self)
                if not request.complete:
                    await self._finish_body(request)
            except ProtocolError as error:
                if not self.response_started:
                    await self._refuse(error, request)
                return
            except (_Closed, trio.BrokenResourceError, trio.ClosedResourceError):
                raise  # the connection's end, handled in serve()
            except Exception:
                # A bug, not the client's doing: logged once (method and
                # path only; a query or a body may hold a secret), answered
                # in the SPEC's form if nothing was sent yet, then closed.
                path = request.target.partition(b"?")[0].decode("latin-1")
                log.exception("unhandled error on %s %s", request.method, path[:200])
                if not self.response_started:
                    await self._refuse(InternalError(), request)
                return
            if self.upgraded_data is not None:
                return  # the handler owned the upgraded stream (or refused it)

    async def _finish_body(self, request: Request) -> None:
        """Read what the handler left of a body, so the next request on the
        connection can be parsed; a large remainder is not worth it: close."""
        if not self.keep_alive:
            raise _Closed()
        request.body_limit = min(request.body_limit, request.body_seen + DRAIN_LIMIT)
        try:
            async for _ in request.body_chunks():
                pass
        except PayloadTooLarge:
            self.keep_alive = False
            raise _Closed() from None

    async def _refuse(self, error: GatewayError, request: Request | None = None) -> None:
        self.keep_alive = False
        if request is None:
            request = Request(self)
            request.version = "1.1"
        await self.respond_error(request, error)
        await self._linger()

    async def _linger(self) -> None:
        """A lingering close, as nginx does: after a refusal the client may
        still be sending, and closing with unread bytes would reset the
        connection and could destroy the answer before the client reads it.
        So: no more writes, then read and drop a bounded amount, briefly."""
        if self._eof or not isinstance(self.stream, RawSocketStream):
            return
        with contextlib.suppress(trio.BrokenResourceError, trio.ClosedResourceError, OSError):
            await self.stream.send_eof()
            dropped = 0
            with trio.move_on_after(LINGER_SECONDS):
                while dropped < LINGER_BYTES:
                    data = await self.stream.receive_some(RECEIVE_SIZE)
                    if not data:
                        break
                    dropped += len(data)
