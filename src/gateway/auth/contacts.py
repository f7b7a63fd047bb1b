"""Where messages to a user go: an e-mail address and a phone number, checked
and put in one canonical form when support records them.

A code sent to a malformed address is a code nobody gets (or somebody else
gets), so both are refused at the door rather than at the first message.

- E-mail: ``local@domain``, ASCII only (an internationalized domain goes in
  its ``xn--`` form), at most 254 characters; the local part is 1-64
  characters of the RFC 5322 "dot-atom" set; the domain has at least two
  labels of letters, digits and inner hyphens, and a top-level label that is
  not all digits. The domain is folded to lower case; the local part is kept
  as typed (it may be case-sensitive).
- Phone: E.164, ``+`` then 8 to 15 digits, the first not 0. Spaces, dots,
  hyphens and parentheses between digits are dropped.
"""

from __future__ import annotations

import re

from gateway.errors import BadRequest

EMAIL_MAX_LENGTH = 254
_LOCAL = re.compile(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*")
_LABEL = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?")
_PHONE_SEPARATORS = re.compile(r"[ .()\-]")
_E164 = re.compile(r"\+[1-9][0-9]{7,14}")


class InvalidContact(BadRequest):
    """An e-mail address or phone number that messages cannot go to."""


def normalize_email(text: str) -> str:
    """The address in canonical form, or ``InvalidContact``."""
    invalid = InvalidContact("email must be an address like name@example.com")
    if len(text) > EMAIL_MAX_LENGTH or not text.isascii() or text.count("@") != 1:
        raise invalid
    local, domain = text.split("@")
    if len(local) > 64 or _LOCAL.fullmatch(local) is None:
        raise invalid
    labels = domain.lower().split(".")
    if len(labels) < 2 or labels[-1].isdigit():
        raise invalid
    if any(_LABEL.fullmatch(label) is None for label in labels):
        raise invalid
    return f"{local}@{'.'.join(labels)}"


def normalize_phone(text: str) -> str:
    """The number in E.164 form (``+15551234567``), or ``InvalidContact``."""
    if len(text) > 32:
        raise InvalidContact("phone must be an E.164 number like +15551234567")
    compact = _PHONE_SEPARATORS.sub("", text.strip())
    if _E164.fullmatch(compact) is None:
        raise InvalidContact("phone must be an E.164 number like +15551234567")
    return compact
