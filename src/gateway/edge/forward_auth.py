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

# Which fact each header names: 0 the URI, 1 the method, 2 the host, 3 the
# scheme; X-Forwarded-Uri also says that the caller passes redirects on.
_NAMES = {
    b"x-forwarded-uri": 0,
    b"x-original-uri": 0,
    b"x-forwarded-method": 1,
    b"x-original-method": 1,
    b"x-forwarded-host": 2,
    b"x-forwarded-proto": 3,
}
_SCHEMES = (b"http", b"https")


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
    facts: list[bytes | None] = [None, None, None, None]
    redirects = False
    names = _NAMES
    for name, value in headers:
        index = names.get(name)
        if index is None:
            continue
        value = value.strip()
        seen = facts[index]
        if seen is not None and seen != value:
            raise ConflictingHeaders()
        facts[index] = value
        if name == b"x-forwarded-uri":
            redirects = True
    uri, method, host, proto = facts
    if uri is None:
        raise BadRequest("Forward auth needs X-Forwarded-Uri or X-Original-URI")
    # Without the method the decision would be about the verify call's own
    # (GET): a GET-only key would pass a POST. Every recipe sends it.
    if method is None:
        raise BadRequest("Forward auth needs X-Forwarded-Method or X-Original-Method")
    if not (method.isalpha() and method.isupper()):
        raise BadRequest("X-Forwarded-Method is an HTTP method in capitals")
    if proto is not None and proto not in _SCHEMES:
        proto = proto.lower()
        if proto not in _SCHEMES:
            raise BadRequest("X-Forwarded-Proto is http or https")
    return OriginalRequest(method.decode("ascii"), decide(uri), uri, host, proto, redirects)
