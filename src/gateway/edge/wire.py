"""The bytes of HTTP/1.1 answers, and the protocol errors of the data plane:
status lines, the Date header, encoded header lines."""

from __future__ import annotations

import time
from email.utils import formatdate

from gateway.errors import GatewayError

STATUS_PHRASES = {
    100: b"Continue",
    101: b"Switching Protocols",
    200: b"OK",
    201: b"Created",
    202: b"Accepted",
    204: b"No Content",
    301: b"Moved Permanently",
    302: b"Found",
    304: b"Not Modified",
    400: b"Bad Request",
    401: b"Unauthorized",
    403: b"Forbidden",
    404: b"Not Found",
    405: b"Method Not Allowed",
    408: b"Request Timeout",
    409: b"Conflict",
    413: b"Content Too Large",
    414: b"URI Too Long",
    423: b"Locked",
    429: b"Too Many Requests",
    431: b"Request Header Fields Too Large",
    500: b"Internal Server Error",
    501: b"Not Implemented",
    502: b"Bad Gateway",
    503: b"Service Unavailable",
    504: b"Gateway Timeout",
    505: b"HTTP Version Not Supported",
}
_STATUS_LINES = {
    code: b"HTTP/1.1 %d %s\r\n" % (code, phrase) for code, phrase in STATUS_PHRASES.items()
}

Headers = list[tuple[bytes, bytes]]
# Connection header tokens that name no other header.
PLAIN_CONNECTION = frozenset({b"", b"keep-alive", b"close", b"upgrade"})


class ProtocolError(GatewayError):
    """The client broke HTTP/1.1 or a limit: answer, then close."""

    code = "bad_request"
    status = 400
    default_message = "Malformed HTTP request"

    def __init__(self, message: str | None = None, status: int = 400) -> None:
        super().__init__(message)
        self.status = status  # type: ignore[misc]


class PayloadTooLarge(ProtocolError):
    def __init__(self) -> None:
        super().__init__("Request body too large", 413)


def status_line(status: int) -> bytes:
    line = _STATUS_LINES.get(status)
    return line if line is not None else b"HTTP/1.1 %d Status\r\n" % status


class _HttpDate:
    """The Date header line, formatted again by the watchdog's tick (a
    second's precision is all HTTP asks of it)."""

    def __init__(self) -> None:
        self._second = -1
        self.line = b""
        self.refresh()

    def refresh(self) -> None:
        now = int(time.time())
        if now != self._second:
            self._second = now
            self.line = b"date: " + formatdate(now, usegmt=True).encode() + b"\r\n"


http_date = _HttpDate()


def encode_headers(headers: Headers) -> bytes:
    """Header lines, encoded once where a handler answers the same ones often."""
    return b"".join(b"%s: %s\r\n" % pair for pair in headers)
