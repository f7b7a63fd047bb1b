"""The request a forward-auth call describes (nginx ``auth_request``,
Caddy ``forward_auth``, Traefik ``ForwardAuth``).

The call itself is ``GET /auth/verify``; the request to decide on is named
in headers: ``X-Forwarded-Method/-Uri/-Host/-Proto`` (Traefik, Caddy) or
``X-Original-Method/-URI`` (the nginx recipe). Those headers are believed
only from a configured trusted proxy (``[http] trusted_proxies``): from
anyone else they would let a client name the request it is judged on. And
a value given twice, or differently under the two names, is refused rather
than resolved by precedence: nginx passes a client's own ``X-Forwarded-Uri``
on to ``auth_request`` beside the recipe's ``X-Original-URI``, and whichever
one won, a client could pick it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

from gateway.edge.paths import Target, decide
from gateway.errors import BadRequest

_URI = (b"x-forwarded-uri", b"x-original-uri")
_METHOD = (b"x-forwarded-method", b"x-original-method")
_HOST = b"x-forwarded-host"
_PROTO = b"x-forwarded-proto"
_TOKEN = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZ")


class ConflictingHeaders(BadRequest):
    default_message = "The forward-auth headers name the request more than once"


class OriginalRequest(NamedTuple):
    """What a trusted proxy says the client asked for."""

    method: str
    target: Target  # the URI, decided on as the proxy routes would be
    uri: bytes  # as the proxy sent it (for the way back after a login)
    host: bytes | None
    proto: bytes | None
    redirects: bool  # the caller passes a 302 on (it sent X-Forwarded-Uri)


def original_request(headers: Sequence[tuple[bytes, bytes]]) -> OriginalRequest:
    """The request a trusted proxy asks about, or ``BadRequest``."""
    uri: bytes | None = None
    method: bytes | None = None
    host: bytes | None = None
    proto: bytes | None = None
    redirects = False
    for name, value in headers:
        if not name.startswith(b"x-"):
            continue
        if name in _URI:
            uri = _one(uri, value)
            redirects = redirects or name == _URI[0]
        elif name in _METHOD:
            method = _one(method, value.upper())
        elif name == _HOST:
            host = _one(host, value)
        elif name == _PROTO:
            proto = _one(proto, value.lower())
    if uri is None:
        raise BadRequest("Forward auth needs X-Forwarded-Uri or X-Original-URI")
    # Without the method the decision would be about the verify call's own
    # (GET): a GET-only key would pass a POST. Every recipe sends it.
    if method is None:
        raise BadRequest("Forward auth needs X-Forwarded-Method or X-Original-Method")
    if not method or not set(method) <= _TOKEN:
        raise BadRequest("X-Forwarded-Method is not an HTTP method")
    if proto is not None and proto not in (b"http", b"https"):
        raise BadRequest("X-Forwarded-Proto is http or https")
    return OriginalRequest(
        method.decode("ascii"),
        decide(uri),
        uri,
        host,
        proto,
        redirects,
    )


def _one(seen: bytes | None, value: bytes) -> bytes:
    value = value.strip()
    if seen is not None and seen != value:
        raise ConflictingHeaders()
    return value
