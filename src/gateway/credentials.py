"""Where a request carries its credential, for both planes.

In order: ``X-API-Key``; ``Authorization: Bearer`` (the scheme in any case,
RFC 9110 11.1; an API key when it starts with ``gk_``, else a session
token); the session cookie ``gw_session``. Over-long values count as none.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from gateway.auth.apikeys import is_api_key

SESSION_COOKIE = "gw_session"
COOKIE_NAME = SESSION_COOKIE.encode()
_COOKIE_PREFIX = COOKIE_NAME + b"="
MAX_TOKEN = 256


@dataclass(frozen=True, slots=True)
class Credential:
    token: str
    api_key: bool


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
        return Credential(cookie.decode("latin-1"), False)
    return None


def session_token(headers: Iterable[tuple[bytes, bytes]]) -> str | None:
    """The session token of a request (an API key is not one)."""
    credential = find_credential(headers, sessions_only=True)
    return None if credential is None else credential.token


def _cookie_value(header: bytes) -> bytes | None:
    for part in header.split(b";"):
        part = part.strip()
        if part.startswith(_COOKIE_PREFIX):
            value = part[len(_COOKIE_PREFIX) :]
            return value if 0 < len(value) <= MAX_TOKEN else None
    return None
