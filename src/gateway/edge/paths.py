"""Request targets as the edge decides on them: one normalizer for forward
auth, proxy routes, the gateway's own endpoints and login admission.

A rule protects a path prefix, so the path it is matched on must be the one
the server behind will act on. Servers disagree on much of what a URI may
spell: nginx decodes and merges slashes before it picks a location but
passes the raw ``$request_uri`` on; Tomcat drops ``;`` parameters (``..;``
climbs a directory); IIS and Windows servers read a backslash as a slash and
drop trailing dots; some frameworks decode ``%2f`` into a separator, others
keep it, some decode twice. A path that two servers could read differently
is therefore refused, not resolved:

- every percent-escape of an unreserved character (RFC 3986 2.3: letters,
  digits, ``-``, ``_``, ``~``) is decoded, since every server agrees on it;
  other escapes stay as they are, in upper case;
- refused with ``400 bad_request``: escapes of ``/``, ``\\``, ``.``, ``%``
  (double encoding), ``;`` and of control bytes; a malformed escape; a raw
  ``\\``, ``;``, control byte, space, non-ASCII byte or ``#``; empty (``//``),
  ``.`` and ``..`` segments; a segment ending in a dot; a target that is not
  an absolute path (``http://...``, ``*``, an authority); escaped bytes that
  are not UTF-8 (``%C0%AE``, an overlong ``.`` some servers decode) or
  whose text Unicode compatibility would fold (a full-width full stop or
  solidus, U+FF0E and U+FF0F, which some servers fold into ``.`` and ``/``).

The answer, ``Target``, is what the edge decides on (``path``) and the
request target sent on (``target``: ``path`` and the query as the client
sent it), so the server behind receives exactly the path that was decided.
Prefixes match as they are written: ``/Admin`` does not match a rule for
``/admin``.
"""

from __future__ import annotations

import re
import unicodedata
from typing import NamedTuple
from urllib.parse import unquote_to_bytes

from gateway.errors import BadRequest

# Anything that may need a second look: a clean path (the usual case) is
# passed by one search.
_SUSPECT = re.compile(rb"[^A-Za-z0-9/\-_~!$&'()*+,=:@.]|//|/\.|\.(?:/|$)")
_UNRESERVED = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_~")
_HEX = frozenset(b"0123456789ABCDEFabcdef")
# Escapes that mean a separator, a dot, an escape or a parameter to some
# servers and a plain character to others; control bytes.
_REFUSED_ESCAPES = frozenset({0x2F, 0x5C, 0x2E, 0x25, 0x3B, 0x7F, *range(0x20)})
_REFUSED_RAW = frozenset({0x5C, 0x3B, 0x23, 0x20, 0x7F, *range(0x20), *range(0x80, 0x100)})


# Decisions by target: the hot paths ask about the same few targets again
# and again. Short targets only, cleared when full (cheaper than tracking use).
_DECIDED: dict[bytes, Target] = {}
_CACHE_ENTRIES = 4096
_CACHE_TARGET_BYTES = 256


class AmbiguousPath(BadRequest):
    default_message = "This form of path is refused: servers read it differently"


class Target(NamedTuple):
    path: bytes  # decided on
    target: bytes  # sent on: path, then the query as it came


def decide(target: bytes) -> Target:
    """The path the edge decides on and the target it sends on, or
    ``AmbiguousPath``."""
    known = _DECIDED.get(target)
    if known is not None:
        return known
    decided = _decide(target)
    if len(target) <= _CACHE_TARGET_BYTES:
        if len(_DECIDED) >= _CACHE_ENTRIES:
            _DECIDED.clear()
        _DECIDED[target] = decided
    return decided


def _decide(target: bytes) -> Target:
    end = target.find(b"?")
    path = target if end < 0 else target[:end]
    if not path.startswith(b"/"):
        raise AmbiguousPath("The request target must be an absolute path")
    if _SUSPECT.search(path) is None:
        return Target(path, target)
    decided = _normalized(path)
    if decided is path:
        return Target(path, target)
    return Target(decided, decided if end < 0 else decided + target[end:])


def _normalized(path: bytes) -> bytes:
    out = bytearray()
    i = 0
    size = len(path)
    changed = False
    high = False  # an escape of a byte beyond ASCII
    while i < size:
        byte = path[i]
        if byte == 0x25:  # %
            pair = path[i + 1 : i + 3]
            if len(pair) != 2 or pair[0] not in _HEX or pair[1] not in _HEX:
                raise AmbiguousPath("A malformed percent-escape in the path")
            value = int(pair, 16)
            if value in _REFUSED_ESCAPES:
                raise AmbiguousPath()
            high = high or value > 0x7F
            if value in _UNRESERVED:
                out.append(value)
            else:
                out += b"%" + pair.upper()
            changed = True
            i += 3
            continue
        if byte in _REFUSED_RAW:
            raise AmbiguousPath()
        out.append(byte)
        i += 1
    if high:
        try:
            text = unquote_to_bytes(bytes(out)).decode("utf-8")
        except UnicodeDecodeError:
            raise AmbiguousPath("Escaped bytes in the path are not UTF-8") from None
        if unicodedata.normalize("NFKC", text) != text:
            raise AmbiguousPath()
    segments = bytes(out).split(b"/")
    for index, segment in enumerate(segments[1:], 1):
        last = index == len(segments) - 1
        if segment == b"" and not last:
            raise AmbiguousPath("Empty path segments (//) are refused")
        if segment.endswith(b"."):
            # ".", "..", and "name." (which Windows servers read as "name")
            raise AmbiguousPath()
    return bytes(out) if changed else path
