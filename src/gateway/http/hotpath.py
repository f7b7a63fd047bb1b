"""The hot endpoints, answered by a thin ASGI layer in front of Quart.

Hypercorn's Trio worker serves ~2.5k bare requests/s per process here and
Quart's dispatch costs ~31 % of that (DESIGN.md, "Performance design"), so the
endpoints that every proxied request or poll hits (session check, tickle,
forward auth) skip Quart: one dict lookup on (method, path), a synchronous
handler over in-memory state, msgspec encoding, two ``send`` calls.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, MutableMapping
from typing import Any

import trio

from gateway.credentials import session_token
from gateway.errors import GatewayError
from gateway.http.wire import Headers, error_response

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
# Loose on purpose: Quart's own __call__ is typed with its narrower scope types.
ASGIApp = Callable[[Any, Any, Any], Awaitable[None]]
HotHandler = Callable[[Scope], tuple[int, Headers, bytes]]


def request_token(scope: Scope) -> str | None:
    """The session token of an ASGI request (see ``gateway.credentials``:
    a cross-site state change with the cookie is ``Forbidden``)."""
    return session_token(scope["headers"], scope.get("method", "GET"))


def client_ip(scope: Scope) -> str:
    client = scope.get("client")
    return str(client[0]) if client else "unknown"


class HotPaths:
    """ASGI app: answers ``routes`` itself and hands every other request, and
    the lifespan protocol, to ``fallback`` (the Quart app)."""

    def __init__(
        self,
        routes: Mapping[tuple[str, str], HotHandler],
        fallback: ASGIApp,
        max_body_bytes: int = 65_536,
    ) -> None:
        self._routes = dict(routes)
        self._fallback = fallback
        self._max_body = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            handler = self._routes.get((scope["method"], scope["path"]))
            if handler is not None:
                whole = scope["method"] == "GET" or await _discard_body(receive, self._max_body)
                try:
                    status, headers, body = handler(scope)
                except GatewayError as error:
                    status, headers, body = error_response(error)
                if not whole:
                    headers = [*headers, (b"connection", b"close")]
                await send({"type": "http.response.start", "status": status, "headers": headers})
                await send({"type": "http.response.body", "body": body})
                return
        await self._fallback(scope, receive, send)


async def _discard_body(receive: Receive, limit: int) -> bool:
    """Read a request body the handler does not need (see
    common.read_whole_body); False if it ran past ``limit`` and was left."""
    seen = 0
    while True:
        message = await receive()
        seen += len(message.get("body", b""))
        if not message.get("more_body"):
            return True
        if seen > limit:
            return False


class RelayedClient:
    """ASGI wrapper: the client's address as the data plane saw it.

    On the internal socket (``trusted``) every request comes from the data
    plane, which puts the client's address in ``X-Gateway-Client``; on a
    listener clients reach directly (``h2_bind``) that header and
    ``X-Forwarded-Host`` are dropped, so they cannot be forged there."""

    def __init__(self, app: ASGIApp, *, trusted: bool) -> None:
        self._app = app
        self._trusted = trusted

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket"):
            headers = scope["headers"]
            relayed = [value for name, value in headers if name == _CLIENT_HEADER]
            dropped = (_CLIENT_HEADER,) if self._trusted else _UNTRUSTED
            if relayed or self._trusted or any(n == _FORWARDED_HOST for n, _ in headers):
                scope = dict(scope)
                scope["headers"] = [(n, v) for n, v in headers if n not in dropped]
                if self._trusted and relayed:
                    scope["client"] = (relayed[-1].decode("latin-1"), 0)
        await self._app(scope, receive, send)


_CLIENT_HEADER = b"x-gateway-client"
_FORWARDED_HOST = b"x-forwarded-host"
# Where clients reach Hypercorn directly (h2_bind) nothing they send about
# themselves is believed: the cross-site check reads X-Forwarded-Host only
# as the data plane set it.
_UNTRUSTED = (_CLIENT_HEADER, _FORWARDED_HOST)


class ShieldedSend:
    """ASGI wrapper for every Hypercorn listener: the app's ``send`` runs
    shielded from cancellation.

    Hypercorn (0.18, Trio worker) closes a connection that must close
    (``Connection: close``, HTTP/1.0, the last keep-alive request) from
    inside the app's final ``send``: the ``StreamClosed`` it handles there
    delivers ``http.disconnect`` to the app and then calls
    ``TCPServer._close``, whose ``SocketStream.send_eof`` starts with a
    checkpoint. Quart-Trio cancels its request nursery as soon as its
    message task sees that disconnect, so the checkpoint raises
    ``Cancelled``, the socket is never closed, and the idle timer was
    stopped when the request began: the connection stays open until the
    client leaves. Shielding the ``send`` lets that close finish. Hypercorn
    already shields the socket write itself, so nothing that could be
    cancelled before becomes uncancellable.
    """

    def __init__(self, app: ASGIApp) -> None:
        self._app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._app(scope, receive, send)
            return

        async def shielded(message: MutableMapping[str, Any]) -> None:
            with trio.CancelScope(shield=True):
                await send(message)

        await self._app(scope, receive, shielded)
