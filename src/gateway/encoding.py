"""base64url without padding (``b64u`` in DESIGN.md): how keys, signatures
and card secrets travel in the device contracts."""

from __future__ import annotations

import base64
import binascii


def b64u(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def from_b64u(text: str) -> bytes:
    """The bytes of ``text``; ``ValueError`` if it is not base64url."""
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        raise ValueError("not base64url") from None
