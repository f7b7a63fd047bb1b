"""Request paths as a front proxy routes them.

Access rules match path prefixes, so the path they see must be the one the
service behind will act on. nginx decodes percent-escapes, merges slashes
and resolves ``.``/``..`` before it picks a location, but passes the raw
``$request_uri`` to forward auth: ``/open/../admin`` would match a public
``/open`` rule while nginx serves ``/admin``. So forward auth matches on
``normalize(path)``, and the gateway's own proxy refuses paths with dot
segments (raw or encoded) rather than guess how each upstream resolves them.
"""

from __future__ import annotations

from urllib.parse import unquote_to_bytes


def normalize(path: bytes) -> bytes:
    """Percent-decoded, slashes merged, dot segments resolved (RFC 3986
    5.2.4); always absolute."""
    decoded = unquote_to_bytes(path) if b"%" in path else path
    segments: list[bytes] = []
    for segment in decoded.split(b"/"):
        if segment == b"..":
            if segments:
                segments.pop()
        elif segment and segment != b".":
            segments.append(segment)
    trailing = b"/" if decoded.endswith((b"/", b"/.", b"/..")) and segments else b""
    return b"/" + b"/".join(segments) + trailing


def has_dot_segments(path: bytes) -> bool:
    """True when a ``.`` or ``..`` segment appears, raw or percent-encoded
    (or a backslash, which some servers read as a slash)."""
    if b"." not in path and b"%" not in path and b"\\" not in path:
        return False  # the usual path: nothing to look at
    if b"%" in path:
        path = unquote_to_bytes(path)
    if b"\\" in path:
        return True
    return any(segment in (b".", b"..") for segment in path.split(b"/"))
