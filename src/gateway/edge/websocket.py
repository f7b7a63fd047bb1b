"""The WebSocket protocol (RFC 6455) as far as the proxy needs it.

The proxy does not speak WebSocket, it tunnels it; but it checks that both
halves of an opening handshake are one, so that no other protocol (``h2c``,
``TLS/1.0``, anything an upstream would switch to) is tunnelled through a
route that allows WebSockets: past a ``101`` the gateway no longer sees
requests, so it could not check their paths or identity headers.

It also finds frame boundaries in the bytes it pumps, from the frame
headers alone (payloads are never looked at), so that the one frame it
writes itself, the Close it sends both sides when the credential behind a
tunnel ends, goes between two frames and neither side sees a broken one.

Nothing here does I/O: ``tunnel.py`` drives it.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
from collections.abc import Iterable

GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
VERSION = b"13"
# The code of every Close the gateway writes; the reason says which end it
# was (``session_replaced``, ``session_expired``, ``session_ended``,
# ``api_key_revoked``).
POLICY_VIOLATION = 1008
MAX_CLOSE_REASON = 123  # a control frame's payload is at most 125 bytes

Headers = Iterable[tuple[bytes, bytes]]


def handshake_key(method: str, version: str, has_body: bool, headers: Headers) -> bytes | None:
    """The ``Sec-WebSocket-Key`` of a valid opening handshake (RFC 6455
    4.2.1), or ``None``: a GET over HTTP/1.1 without a body, with
    ``Upgrade: websocket`` as the only token, ``Connection`` naming
    ``upgrade``, version 13 and a key that is base64 of 16 bytes. Each of
    these headers once only."""
    if method != "GET" or version != "1.1" or has_body:
        return None
    upgrade = key = ws_version = None
    connection_upgrade = False
    for name, value in headers:
        if name == b"upgrade":
            if upgrade is not None:
                return None
            upgrade = value
        elif name == b"connection":
            if any(token.strip().lower() == b"upgrade" for token in value.split(b",")):
                connection_upgrade = True
        elif name == b"sec-websocket-key":
            if key is not None:
                return None
            key = value
        elif name == b"sec-websocket-version":
            if ws_version is not None:
                return None
            ws_version = value
    if (
        upgrade is None
        or upgrade.strip().lower() != b"websocket"
        or not connection_upgrade
        or ws_version is None
        or ws_version.strip() != VERSION
        or key is None
    ):
        return None
    key = key.strip()
    try:
        nonce = binascii.a2b_base64(key, strict_mode=True)
    except binascii.Error:
        return None
    return key if len(nonce) == 16 else None


def accept_value(key: bytes) -> bytes:
    """The ``Sec-WebSocket-Accept`` that answers ``key``."""
    digest = hashlib.sha1(key + GUID, usedforsecurity=False).digest()  # the protocol's choice
    return base64.b64encode(digest)


def accepted(headers: Headers, key: bytes) -> bool:
    """Whether a ``101`` answer's headers complete the handshake of ``key``:
    ``Upgrade: websocket`` and the right ``Sec-WebSocket-Accept``, each
    once. Anything else means the upstream switched to something the client
    did not ask for."""
    upgrade = accept = None
    for name, value in headers:
        if name == b"upgrade":
            if upgrade is not None:
                return False
            upgrade = value
        elif name == b"sec-websocket-accept":
            if accept is not None:
                return False
            accept = value
    return (
        upgrade is not None
        and upgrade.strip().lower() == b"websocket"
        and accept is not None
        and accept.strip() == accept_value(key)
    )


def close_frame(code: int, reason: str, *, masked: bool) -> bytes:
    """A Close frame: unmasked as a server sends it (to the client), masked
    with a random key as a client sends it (to the upstream)."""
    payload = code.to_bytes(2, "big") + reason.encode()[:MAX_CLOSE_REASON]
    if not masked:
        return bytes((0x88, len(payload))) + payload
    mask = os.urandom(4)
    body = bytes(byte ^ mask[index & 3] for index, byte in enumerate(payload))
    return bytes((0x88, 0x80 | len(payload))) + mask + body


class FrameCursor:
    """Where the frame boundaries are in one direction of a tunnel. Fed the
    bytes as they pass; reads each frame's header (2 to 14 bytes) and skips
    its payload by length."""

    __slots__ = ("_header", "_remaining")

    def __init__(self) -> None:
        self._header = b""  # a header cut between two reads
        self._remaining = 0  # payload bytes of the current frame still to pass

    @property
    def at_boundary(self) -> bool:
        return not self._remaining and not self._header

    def feed(self, data: bytes | bytearray | memoryview, *, to_boundary: bool = False) -> int:
        """Follow ``data``; with ``to_boundary``, only up to the end of the
        frame under way. Returns how many bytes were taken."""
        index, size = 0, len(data)
        while index < size:
            if self._remaining:
                step = min(self._remaining, size - index)
                self._remaining -= step
                index += step
            else:
                have = len(self._header)
                head = self._header + bytes(data[index : index + 14 - have])
                length = _header_length(head)
                if length is None or len(head) < length:
                    self._header = head
                    return size
                self._header = b""
                self._remaining = _payload_length(head)
                index += length - have
            if to_boundary and not self._remaining:
                break
        return index

    def until_boundary(self) -> int:
        """How many bytes may be read without passing the next boundary (at
        least one when not at a boundary; 0 at one)."""
        if self._remaining:
            return self._remaining
        if not self._header:
            return 0
        length = _header_length(self._header)
        if length is None:
            return 2 - len(self._header)
        # The header's length is known, its payload's not yet: read the
        # header's end only.
        return length - len(self._header)


def _header_length(head: bytes) -> int | None:
    if len(head) < 2:
        return None
    second = head[1]
    code = second & 0x7F
    extended = 0 if code < 126 else 2 if code == 126 else 8
    return 2 + extended + (4 if second & 0x80 else 0)


def _payload_length(head: bytes) -> int:
    code = head[1] & 0x7F
    if code < 126:
        return code
    if code == 126:
        return int.from_bytes(head[2:4], "big")
    return int.from_bytes(head[2:10], "big")


__all__ = [
    "POLICY_VIOLATION",
    "FrameCursor",
    "accept_value",
    "accepted",
    "close_frame",
    "handshake_key",
]
