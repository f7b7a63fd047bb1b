"""The generator's HTTP/1.1 client: an asyncio ``Protocol`` over keep-alive
connections with httptools (llhttp) parsing the responses.

Why not aiohttp or httpx: the generator must stay far above the gateway it
drives, on one core. Each request here is one pre-encoded ``bytes`` written to
the transport and one future resolved by the parser's ``on_message_complete``;
headers are not even surfaced to Python (error bodies carry what we need).
With uvloop that is a few microseconds of Python per request; the measured
ceiling against nginx is in bench/README.md.

One request at a time per connection (no pipelining), as real clients do.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import Any, cast

import httptools
import msgspec

from bench.load.target import Target

_json = msgspec.json.Encoder()


class TransportError(Exception):
    """The request got no HTTP answer; ``kind`` is what the report counts."""

    kind = "transport_error"


class ConnectionLost(TransportError):
    kind = "connection_lost"


class RequestTimeout(TransportError):
    kind = "timeout"


class ProtocolError(TransportError):
    kind = "protocol_error"


class HttpResponse:
    __slots__ = ("body", "device_cookie", "status")

    def __init__(self, status: int, body: bytes, device_cookie: str | None = None) -> None:
        self.status = status
        self.body = body
        self.device_cookie = device_cookie  # a trusted-device cookie handed out, if any

    def json(self) -> Any:
        return msgspec.json.decode(self.body)

    def __repr__(self) -> str:
        return f"HttpResponse({self.status}, {self.body[:80]!r})"


_DEVICE = b"gw_device="


class HttpConnection(asyncio.Protocol):
    """One keep-alive connection, one request in flight at a time."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._parser = httptools.HttpResponseParser(self)
        self._transport: asyncio.Transport | None = None
        self._waiter: asyncio.Future[HttpResponse] | None = None
        self._chunks: list[bytes] = []
        self._device_cookie: str | None = None
        self.reusable = True
        self.sent_at = 0.0  # loop time of the request in flight, for the watchdog

    # --- asyncio.Protocol ------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not asyncio.Transport subclasses.
        self._transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserError as exc:
            self.abort(ProtocolError(str(exc)))

    def connection_lost(self, exc: Exception | None) -> None:
        self.reusable = False
        self._fail(ConnectionLost(str(exc) if exc else "closed by peer"))

    # --- httptools callbacks ---------------------------------------------------

    def on_header(self, name: bytes, value: bytes) -> None:
        if len(name) == 10 and name.lower() == b"set-cookie" and value.startswith(_DEVICE):
            self._device_cookie = value[len(_DEVICE) :].split(b";", 1)[0].decode()

    def on_body(self, body: bytes) -> None:
        self._chunks.append(body)

    def on_message_complete(self) -> None:
        chunks = self._chunks
        body = chunks[0] if len(chunks) == 1 else b"".join(chunks)
        chunks.clear()
        if not self._parser.should_keep_alive():
            self.reusable = False
        device, self._device_cookie = self._device_cookie, None
        waiter, self._waiter = self._waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_result(HttpResponse(self._parser.get_status_code(), body, device))

    # --- use -------------------------------------------------------------------

    def request(self, raw: bytes) -> asyncio.Future[HttpResponse]:
        """Send one complete request; the future resolves to its response."""
        if not self.reusable or self._transport is None:
            raise ConnectionLost("connection is closed")
        waiter = self._waiter = self._loop.create_future()
        self.sent_at = self._loop.time()
        self._transport.write(raw)
        return waiter

    @property
    def busy(self) -> bool:
        return self._waiter is not None

    def abort(self, error: TransportError) -> None:
        """Fail the request in flight with ``error`` and drop the connection."""
        self.reusable = False
        self._fail(error)
        if self._transport is not None:
            self._transport.abort()

    def _fail(self, error: TransportError) -> None:
        waiter, self._waiter = self._waiter, None
        self._chunks.clear()
        if waiter is not None and not waiter.done():
            waiter.set_exception(error)


class HttpClient:
    """A connection to ``target`` that reconnects when the server closed it.

    ``source`` binds the client socket to another loopback address, so a
    flood can come from many client IPs without leaving the host.
    """

    def __init__(self, target: Target, source: str | None = None) -> None:
        self.target = target
        self.source = source
        self.connection: HttpConnection | None = None
        self.connects = 0

    async def send(self, raw: bytes) -> HttpResponse:
        connection = self.connection
        if connection is None or not connection.reusable:
            connection = await self._connect()
        return await connection.request(raw)

    async def _connect(self) -> HttpConnection:
        loop = asyncio.get_running_loop()
        local = (self.source, 0) if self.source else None
        try:
            _, protocol = await loop.create_connection(
                lambda: HttpConnection(loop), self.target.host, self.target.port, local_addr=local
            )
        except OSError as exc:
            raise ConnectionLost(f"cannot connect to {self.target.url}: {exc}") from None
        self.connection = protocol
        self.connects += 1
        return protocol

    def expire(self, older_than: float) -> bool:
        """Abort the request in flight if it was sent before ``older_than``
        (loop time). Called by the run's watchdog once a second."""
        connection = self.connection
        if connection is not None and connection.busy and connection.sent_at < older_than:
            connection.abort(RequestTimeout("no answer in time"))
            return True
        return False

    def close(self) -> None:
        if self.connection is not None:
            self.connection.abort(ConnectionLost("generator stopped"))
            self.connection = None


# --- request encoding ------------------------------------------------------------


def encode_request(
    target: Target,
    method: str,
    path: str,
    *,
    body: bytes | None = None,
    headers: Iterable[tuple[str, str]] = (),
) -> bytes:
    """A complete HTTP/1.1 request, ready to write. Built once and reused
    where the request does not change (session checks, pings)."""
    lines = [f"{method} {target.base_path}{path} HTTP/1.1", f"Host: {target.host_header}"]
    lines.extend(f"{name}: {value}" for name, value in headers)
    if body is not None or method in ("POST", "PUT", "PATCH", "DELETE"):
        lines.append(f"Content-Length: {len(body or b'')}")
    head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
    return head + (body or b"")


def json_request(
    target: Target,
    method: str,
    path: str,
    payload: object,
    headers: Iterable[tuple[str, str]] = (),
) -> bytes:
    return encode_request(
        target,
        method,
        path,
        body=_json.encode(payload),
        headers=[("Content-Type", "application/json"), *headers],
    )


def bearer(token: str) -> tuple[str, str]:
    return ("Authorization", f"Bearer {token}")


class _ErrorCode(msgspec.Struct):
    error: str = ""


_error_decoder = msgspec.json.Decoder(_ErrorCode)


def error_code(response: HttpResponse) -> str | None:
    """The SPEC error code of an error answer (``{"error": ...}``), if any."""
    if response.status < 400:
        return None
    try:
        return _error_decoder.decode(response.body).error or f"http_{response.status}"
    except msgspec.DecodeError:
        return f"http_{response.status}"
