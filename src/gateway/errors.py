"""One exception type per error code of SPEC section 9.

Every error the gateway answers with is one of these. Each class carries the
error code, the HTTP status to send and a public message; the HTTP layer turns
any of them into ``{"error": ..., "message": ..., **extra}`` in one place
(``error.body()``) and adds ``error.headers()`` (``Retry-After``).

Messages are public: they never name a secret and never say whether a user
exists (``InvalidCredentials`` is the same answer for an unknown user and a
wrong password).
"""

from __future__ import annotations

import math
from typing import ClassVar


class GatewayError(Exception):
    """Base of every error the gateway reports to a client."""

    code: ClassVar[str] = "bad_request"
    status: ClassVar[int] = 400
    default_message: ClassVar[str] = "Bad request"

    def __init__(self, message: str | None = None) -> None:
        self.message = message if message is not None else self.default_message
        super().__init__(self.message)

    def extra(self) -> dict[str, object]:
        """Public fields beyond ``error`` and ``message``."""
        return {}

    def body(self) -> dict[str, object]:
        """The JSON error body: ``{"error", "message", **extra}``."""
        return {"error": self.code, "message": self.message, **self.extra()}

    def headers(self) -> dict[str, str]:
        """HTTP headers that go with the error (``Retry-After`` for waits)."""
        return {}

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.message!r})"


class _RetryLater(GatewayError):
    """An error that says how long to wait, in whole seconds (rounded up)."""

    def __init__(self, retry_after: float, message: str | None = None) -> None:
        super().__init__(message)
        # Retry-After takes whole seconds; rounding down would invite a retry
        # that is refused again.
        self.retry_after = max(0, math.ceil(retry_after)) if math.isfinite(retry_after) else 0

    def extra(self) -> dict[str, object]:
        return {"retry_after": self.retry_after}

    def headers(self) -> dict[str, str]:
        return {"Retry-After": str(self.retry_after)}


class BadCharacter(GatewayError):
    """The username has a character other than a-z and 0-9."""

    code = "bad_character"
    status = 400
    default_message = "BAD CHARACTER"


class InvalidCredentials(GatewayError):
    """Wrong user or wrong password: one answer for both."""

    code = "invalid_credentials"
    status = 401
    default_message = "Invalid user name password combination"


class LoginFailed(GatewayError):
    """The second factor was not accepted."""

    code = "login_failed"
    status = 401
    default_message = "Login failed"


class Locked(_RetryLater):
    """Too many failed attempts: login is refused until ``retry_after``."""

    code = "locked"
    # 423 (RFC 4918 "Locked") says the resource is locked, not that the client
    # is unknown (401) or sends too fast (429).
    status = 423
    default_message = "Too many failed login attempts; the user is locked"


class RateLimited(_RetryLater):
    """A token bucket is empty: the request was shed before any work."""

    code = "rate_limited"
    status = 429
    default_message = "Too many requests"


class SessionExists(GatewayError):
    """A trading session is already open; the client may confirm a takeover."""

    code = "session_exists"
    status = 409
    default_message = "Another session already exists"

    def __init__(
        self,
        platform: str,
        started_at: float,
        login_id: str | None = None,
        message: str | None = None,
    ) -> None:
        super().__init__(message)
        self.platform = platform
        self.started_at = started_at
        self.login_id = login_id

    def extra(self) -> dict[str, object]:
        fields: dict[str, object] = {"platform": self.platform, "started_at": self.started_at}
        if self.login_id is not None:
            fields["login_id"] = self.login_id
        return fields


class SessionReplaced(GatewayError):
    """The session was taken over by a newer login of the same user."""

    code = "session_replaced"
    status = 401
    default_message = "The session was replaced by a new login"


class SessionExpired(GatewayError):
    """The session ended after inactivity or after its absolute lifetime."""

    code = "session_expired"
    status = 401
    default_message = "The session has expired"


class Unauthenticated(GatewayError):
    """No session, an unknown token, or a session that was logged out."""

    code = "unauthenticated"
    status = 401
    default_message = "Authentication required"


class Forbidden(GatewayError):
    code = "forbidden"
    status = 403
    default_message = "Forbidden"


class BadRequest(GatewayError):
    code = "bad_request"
    status = 400
    default_message = "Bad request"


class NotFound(GatewayError):
    code = "not_found"
    status = 404
    default_message = "Not found"


class Unavailable(_RetryLater):
    """Something the gateway needs (the store, an upstream, a share of its
    descriptors) cannot answer now: 503 with ``Retry-After``, or 502/504 for
    an upstream. Never read as "no session": a client retries, it is not
    logged out."""

    code = "unavailable"
    status = 503
    default_message = "Service unavailable: try again shortly"

    def __init__(self, message: str | None = None, retry_after: float = 1.0) -> None:
        super().__init__(retry_after, message)


class InternalError(GatewayError):
    """A failure inside the gateway: logged once, without secrets, and the
    request was not carried out."""

    code = "internal_error"
    status = 500
    default_message = "Internal error: the request was not carried out"


ALL_ERRORS: tuple[type[GatewayError], ...] = (
    BadCharacter,
    InvalidCredentials,
    LoginFailed,
    Locked,
    RateLimited,
    SessionExists,
    SessionReplaced,
    SessionExpired,
    Unauthenticated,
    Forbidden,
    BadRequest,
    NotFound,
    Unavailable,
    InternalError,
)
"""Every error class, one per SPEC section 9 code."""
