"""Where a request carries its credential, for both planes.

In order: ``X-API-Key``; ``Authorization: Bearer`` (the scheme in any case,
RFC 9110 11.1; an API key when it starts with ``gk_``, else a session
token); the session cookie ``gw_session``. Over-long values count as none.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from gateway.auth.apikeys import is_api_key
from gateway.errors import Forbidden

SESSION_COOKIE = "gw_session"
COOKIE_NAME = SESSION_COOKIE.encode()
_COOKIE_PREFIX = COOKIE_NAME + b"="
MAX_TOKEN = 256


SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
_SAME_SITE_FETCH = (b"same-origin", b"none")


@dataclass(frozen=True, slots=True)
class Credential:
    token: str
    api_key: bool
    from_cookie: bool = False


def find_credential(
    headers: Iterable[tuple[bytes, bytes]], *, sessions_only: bool = False
) -> Credential | None:
    """The credential in ``headers`` (names in lower case); with
    ``sessions_only`` API keys are passed over."""
    cookie: bytes | None = None
    bearer: str | None = None
    for name, value in headers:
        if name == b"x-api-key":
            if not sessions_only and 0 < len(value) <= MAX_TOKEN:
                return Credential(value.decode("latin-1"), True)
        elif name == b"authorization":
            if value[:7].lower() == b"bearer " and len(value) <= MAX_TOKEN + 7:
                token = value[7:].strip().decode("latin-1")
                if token and not (sessions_only and is_api_key(token)):
                    bearer = token
        elif name == b"cookie" and cookie is None and _COOKIE_PREFIX in value:
            cookie = _cookie_value(value)
    if bearer:
        return Credential(bearer, is_api_key(bearer))
    if cookie:
        return Credential(cookie.decode("latin-1"), False, True)
    return None


def session_token(
    headers: Iterable[tuple[bytes, bytes]], method: str = "GET", host: bytes | None = None
) -> str | None:
    """The session token of a request (an API key is not one). Raises
    ``Forbidden`` for a cross-site ``method`` request authenticated by the
    cookie."""
    credential = find_credential(headers, sessions_only=True)
    if credential is None:
        return None
    if credential.from_cookie and method not in SAFE_METHODS and cross_site(headers, host):
        raise Forbidden("Cross-site request refused")
    return credential.token


def cross_site(headers: Iterable[tuple[bytes, bytes]], host: bytes | None = None) -> bool:
    """Whether a browser says the request came from another site's page.

    ``host`` is the host the client asked for, as the caller's edge knows it
    (a trusted proxy's ``X-Forwarded-Host``, else ``Host``). Without it the
    request's own headers say: ``X-Forwarded-Host`` (which the data plane
    sets on what it relays, from the one source it trusts), else ``Host``."""
    fetch_site = origin = own_host = forwarded_host = None
    for name, value in headers:
        if name == b"sec-fetch-site":
            fetch_site = value.strip().lower()
        elif name == b"origin":
            origin = value.strip().lower()
        elif name == b"host":
            own_host = value.strip().lower()
        elif name == b"x-forwarded-host":
            forwarded_host = value.strip().lower()
    if fetch_site is not None:
        return fetch_site not in _SAME_SITE_FETCH
    if origin is None:
        return False
    asked = host.strip().lower() if host is not None else forwarded_host or own_host
    # "scheme://host[:port]"; the scheme is not compared, since a proxy in
    # front may have ended TLS. "null" (a sandboxed or file page) never matches.
    _, separator, authority = origin.partition(b"://")
    return not separator or asked is None or authority != asked


def _cookie_value(header: bytes) -> bytes | None:
    for part in header.split(b";"):
        part = part.strip()
        if part.startswith(_COOKIE_PREFIX):
            value = part[len(_COOKIE_PREFIX) :]
            return value if 0 < len(value) <= MAX_TOKEN else None
    return None
