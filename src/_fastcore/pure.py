"""Pure-Python twin of the compiled core.

This module is the readable specification of the ``_fastcore`` API and the
oracle the compiled implementation is tested against. It uses only the
standard library (``hmac``, ``hashlib``) and follows RFC 4226 (HOTP),
RFC 6238 (TOTP) and RFC 6287 (OCRA) literally.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import re
from collections import OrderedDict
from collections.abc import Hashable
from typing import Any

IMPLEMENTATION = "pure"

_HASHES = {"sha1": hashlib.sha1, "sha256": hashlib.sha256, "sha512": hashlib.sha512}
_MIN_DIGITS, _MAX_DIGITS = 4, 10
_MAX_WINDOW = 1000
_MAX_COUNTER = 2**64 - 1
_MAX_LOOP = 10**9
_MAX_TIME = 2**62
_POW10: tuple[int, ...] = tuple(10**i for i in range(11))
_QUESTION_BYTES = 128
_MAX_SUITE_LENGTH = 128


def _as_int(value: Any, name: str, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int, not {type(value).__name__}")
    if not low <= value <= high:
        raise ValueError(f"{name} must be between {low} and {high}, got {value}")
    return int(value)


def _as_seconds(value: Any, name: str) -> int:
    """Whole seconds (floor) of a non-negative int or float time."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{name} must be a number, not {type(value).__name__}")
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"{name} must be finite")
    if value < 0:
        raise ValueError(f"{name} must not be negative")
    if value >= _MAX_TIME:
        raise ValueError(f"{name} must be between 0 and {_MAX_TIME}, got {value}")
    return math.floor(value)


def _as_bytes(value: Any, name: str) -> bytes:
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value)
    raise TypeError(f"{name} must be bytes, not {type(value).__name__}")


def _digit_string(code: Any, digits: int, name: str) -> bytes:
    if isinstance(code, str):
        if not code.isascii():
            raise ValueError(f"{name} must be ASCII digits")
        raw = code.encode("ascii")
    elif isinstance(code, (bytes, bytearray)):
        raw = bytes(code)
    else:
        raise TypeError(f"{name} must be str or bytes, not {type(code).__name__}")
    if len(raw) != digits:
        raise ValueError(f"{name} must be exactly {digits} digits")
    if not raw.isdigit():
        raise ValueError(f"{name} must contain only the digits 0-9")
    return raw


class HmacKey:
    """An HMAC secret with its inner and outer hash states computed once."""

    __slots__ = ("algorithm", "digest_size", "_mac")

    def __init__(self, secret: bytes, algorithm: str = "sha1") -> None:
        secret = _as_bytes(secret, "secret")
        if not secret:
            raise ValueError("secret must not be empty")
        if not isinstance(algorithm, str):
            raise TypeError("algorithm must be a str")
        if algorithm not in _HASHES:
            raise ValueError(f"algorithm must be one of sha1, sha256, sha512, got {algorithm!r}")
        self.algorithm = algorithm
        self._mac = hmac.new(secret, digestmod=_HASHES[algorithm])
        self.digest_size = self._mac.digest_size

    def digest(self, message: bytes) -> bytes:
        mac = self._mac.copy()
        mac.update(_as_bytes(message, "message"))
        return mac.digest()

    def __repr__(self) -> str:
        return f"HmacKey(algorithm={self.algorithm!r})"

    def __reduce__(self) -> Any:
        raise TypeError("HmacKey holds a secret and cannot be pickled")


def _require_key(key: Any) -> HmacKey:
    if not isinstance(key, HmacKey):
        raise TypeError(f"key must be an HmacKey, not {type(key).__name__}")
    return key


def _truncate(digest: bytes) -> int:
    """RFC 4226 section 5.3 dynamic truncation to a 31-bit integer."""
    offset = digest[-1] & 0x0F
    return int.from_bytes(digest[offset : offset + 4], "big") & 0x7FFFFFFF


def _hotp_value(key: HmacKey, counter: int, digits: int) -> int:
    return _truncate(key.digest(counter.to_bytes(8, "big"))) % _POW10[digits]


def hotp(key: HmacKey, counter: int, digits: int = 6) -> str:
    _require_key(key)
    counter = _as_int(counter, "counter", 0, _MAX_COUNTER)
    digits = _as_int(digits, "digits", _MIN_DIGITS, _MAX_DIGITS)
    return str(_hotp_value(key, counter, digits)).zfill(digits)


def totp_verify(
    key: HmacKey,
    code: str | bytes,
    unix_time: float,
    step: int = 30,
    t0: int = 0,
    digits: int = 6,
    window: int = 1,
    after_counter: int = -1,
) -> int:
    """Return the time step whose code matches, or -1.

    Every step from ``T - window`` to ``T + window`` is computed and compared
    whatever the outcome, so the time taken does not depend on which step (if
    any) matched. Steps at or below ``after_counter`` never match, which is how
    a caller refuses a code that was already used. When several steps match,
    the latest one is returned.
    """
    _require_key(key)
    digits = _as_int(digits, "digits", _MIN_DIGITS, _MAX_DIGITS)
    step = _as_int(step, "step", 1, 2**40)
    t0 = _as_int(t0, "t0", 0, _MAX_TIME)
    window = _as_int(window, "window", 0, _MAX_WINDOW)
    after_counter = _as_int(after_counter, "after_counter", -1, 2**63 - 1)
    unix_time = _as_seconds(unix_time, "unix_time")
    given = _digit_string(code, digits, "code")
    if unix_time < t0:
        raise ValueError("unix_time must not be before t0")
    current = int((unix_time - t0) // step)
    matched = -1
    for counter in range(current - window, current + window + 1):
        if counter < 0:
            continue
        expected = str(_hotp_value(key, counter, digits)).zfill(digits).encode("ascii")
        ok = hmac.compare_digest(expected, given) and counter > after_counter
        matched = counter if ok else matched
    return matched


def hotp_loop(key: HmacKey, n: int, counter: int = 0, digits: int = 6) -> int:
    """Compute ``n`` HOTP values from ``counter`` on; return the sum of the codes.

    The benchmark floor: the same work as ``n`` calls to ``hotp`` without the
    per-call overhead of the caller.
    """
    _require_key(key)
    n = _as_int(n, "n", 0, _MAX_LOOP)
    counter = _as_int(counter, "counter", 0, _MAX_COUNTER)
    digits = _as_int(digits, "digits", _MIN_DIGITS, _MAX_DIGITS)
    if counter + n - 1 > _MAX_COUNTER:
        raise ValueError("counter range exceeds 2**64 - 1")
    return sum(_hotp_value(key, c, digits) for c in range(counter, counter + n))


def ct_equal(a: Any, b: Any) -> bool:
    """Compare two secrets in time that depends only on their lengths."""
    if isinstance(a, str) and isinstance(b, str):
        return hmac.compare_digest(a.encode("utf-8"), b.encode("utf-8"))
    if isinstance(a, (bytes, bytearray, memoryview)) and isinstance(
        b, (bytes, bytearray, memoryview)
    ):
        return hmac.compare_digest(bytes(a), bytes(b))
    raise TypeError(
        f"ct_equal compares two str or two bytes, not {type(a).__name__} and {type(b).__name__}"
    )


# --- OCRA (RFC 6287) -------------------------------------------------------

_CRYPTO_RE = re.compile(r"HOTP-SHA(1|256|512)-(0|[4-9]|10)")
_QUESTION_RE = re.compile(r"Q([ANH])(0[4-9]|[1-5][0-9]|6[0-4])")
_PIN_RE = re.compile(r"PSHA(1|256|512)")
_SESSION_RE = re.compile(r"S(064|128|256|512)")
_TIME_RE = re.compile(
    r"T(?:([1-9]|[1-5][0-9])S|([1-9]|[1-4][0-9]|5[0-6])M|([0-9]|[1-3][0-9]|4[0-8])H)"
)
_DATA_ORDER = "CQPST"


class OcraSuite:
    """A parsed RFC 6287 suite string, e.g. ``OCRA-1:HOTP-SHA1-6:QN08``."""

    __slots__ = (
        "suite",
        "algorithm",
        "digits",
        "counter",
        "challenge_format",
        "challenge_length",
        "pin_algorithm",
        "session_length",
        "time_step",
    )

    def __init__(self, suite: str) -> None:
        if not isinstance(suite, str):
            raise TypeError(f"suite must be a str, not {type(suite).__name__}")
        if len(suite) > _MAX_SUITE_LENGTH or not suite.isascii():
            raise ValueError("suite is not an OCRA suite string")
        parts = suite.split(":")
        if len(parts) != 3 or parts[0] != "OCRA-1":
            raise ValueError(f"suite must look like OCRA-1:HOTP-SHA1-6:QN08, got {suite!r}")
        crypto = _CRYPTO_RE.fullmatch(parts[1])
        if crypto is None:
            raise ValueError(f"bad crypto function {parts[1]!r}: want HOTP-SHA1|256|512-0|4..10")
        self.suite = suite
        self.algorithm = "sha" + crypto.group(1)
        self.digits = int(crypto.group(2))
        self.counter = False
        self.challenge_format = ""
        self.challenge_length = 0
        self.pin_algorithm: str | None = None
        self.session_length = 0
        self.time_step = 0
        seen = -1
        for item in parts[2].split("-"):
            kind = item[:1]
            position = _DATA_ORDER.find(kind) if kind else -1
            if position <= seen:
                raise ValueError(f"bad data input {parts[2]!r}: want [C-]QFxx[-PH][-Snnn][-TG]")
            seen = position
            self._parse_data_input(kind, item)
        if not self.challenge_format:
            raise ValueError("suite has no challenge (QFxx) data input")

    def _parse_data_input(self, kind: str, item: str) -> None:
        if kind == "C":
            if item != "C":
                raise ValueError(f"bad counter data input {item!r}")
            self.counter = True
        elif kind == "Q":
            match = _QUESTION_RE.fullmatch(item)
            if match is None:
                raise ValueError(f"bad challenge data input {item!r}: want QA|QN|QH04..64")
            self.challenge_format = match.group(1)
            self.challenge_length = int(match.group(2))
        elif kind == "P":
            match = _PIN_RE.fullmatch(item)
            if match is None:
                raise ValueError(f"bad PIN data input {item!r}: want PSHA1|PSHA256|PSHA512")
            self.pin_algorithm = "sha" + match.group(1)
        elif kind == "S":
            match = _SESSION_RE.fullmatch(item)
            if match is None:
                raise ValueError(f"bad session data input {item!r}: want S064|S128|S256|S512")
            self.session_length = int(match.group(1))
        else:
            match = _TIME_RE.fullmatch(item)
            if match is None:
                raise ValueError(f"bad time data input {item!r}: want T1-59S|T1-56M|T0-48H")
            seconds, minutes, hours = match.groups()
            step = int(seconds) if seconds else int(minutes) * 60 if minutes else int(hours) * 3600
            if step == 0:
                raise ValueError("time step T0H divides by zero; use T1H..T48H")
            self.time_step = step

    def __repr__(self) -> str:
        return f"OcraSuite({self.suite!r})"


def _as_suite(suite: Any) -> OcraSuite:
    if isinstance(suite, OcraSuite):
        return suite
    if isinstance(suite, str):
        return OcraSuite(suite)
    raise TypeError(f"suite must be an OcraSuite or str, not {type(suite).__name__}")


def _encode_question(suite: OcraSuite, challenge: Any) -> bytes:
    if not isinstance(challenge, str):
        raise TypeError(f"challenge must be a str, not {type(challenge).__name__}")
    if not challenge or not challenge.isascii():
        raise ValueError("challenge must be a non-empty ASCII string")
    if suite.challenge_format == "N":
        if not challenge.isdigit():
            raise ValueError("numeric challenge must contain only the digits 0-9")
        if len(challenge) > 2 * _QUESTION_BYTES:
            raise ValueError("challenge does not fit the 128-byte question field")
        hexits = format(int(challenge), "x")
    elif suite.challenge_format == "H":
        if not all(c in "0123456789abcdefABCDEF" for c in challenge):
            raise ValueError("hex challenge must contain only 0-9, a-f, A-F")
        hexits = challenge
    else:
        if not challenge.isalnum():
            raise ValueError("alphanumeric challenge must contain only letters and digits")
        if len(challenge) > _QUESTION_BYTES:
            raise ValueError("challenge does not fit the 128-byte question field")
        return challenge.encode("ascii").ljust(_QUESTION_BYTES, b"\0")
    if len(hexits) > 2 * _QUESTION_BYTES:
        raise ValueError("challenge does not fit the 128-byte question field")
    # RFC 6287 reference code: the hex string is padded on the right to 256 nibbles.
    return bytes.fromhex(hexits.ljust(2 * _QUESTION_BYTES, "0"))


def _data_input(
    suite: OcraSuite,
    challenge: Any,
    counter: Any,
    pin: Any,
    session: Any,
    timestamp: Any,
) -> bytes:
    message = [suite.suite.encode("ascii"), b"\0"]
    if suite.counter:
        if counter is None:
            raise ValueError("suite needs a counter")
        message.append(_as_int(counter, "counter", 0, _MAX_COUNTER).to_bytes(8, "big"))
    elif counter is not None:
        raise ValueError("suite takes no counter")
    message.append(_encode_question(suite, challenge))
    if suite.pin_algorithm:
        if pin is None:
            raise ValueError("suite needs a PIN")
        if isinstance(pin, str):
            pin = pin.encode("utf-8")
        pin = _as_bytes(pin, "pin")
        if not pin:
            raise ValueError("pin must not be empty")
        message.append(_HASHES[suite.pin_algorithm](pin).digest())
    elif pin is not None:
        raise ValueError("suite takes no PIN")
    if suite.session_length:
        if session is None:
            raise ValueError("suite needs session information")
        session = _as_bytes(session, "session")
        if len(session) > suite.session_length:
            raise ValueError(f"session information is longer than {suite.session_length} bytes")
        message.append(session.rjust(suite.session_length, b"\0"))
    elif session is not None:
        raise ValueError("suite takes no session information")
    if suite.time_step:
        if timestamp is None:
            raise ValueError("suite needs a timestamp")
        steps = _as_seconds(timestamp, "timestamp") // suite.time_step
        message.append(steps.to_bytes(8, "big"))
    elif timestamp is not None:
        raise ValueError("suite takes no timestamp")
    return b"".join(message)


def _ocra_response(suite: OcraSuite, key: HmacKey, message: bytes) -> str:
    _require_key(key)
    if key.algorithm != suite.algorithm:
        raise ValueError(f"suite uses {suite.algorithm} but the key is {key.algorithm}")
    value = _truncate(key.digest(message))
    if suite.digits == 0:
        return str(value)
    return str(value % 10**suite.digits).zfill(suite.digits)


def ocra(
    suite: OcraSuite | str,
    key: HmacKey,
    challenge: str,
    counter: int | None = None,
    pin: str | bytes | None = None,
    session: bytes | None = None,
    timestamp: float | None = None,
) -> str:
    suite = _as_suite(suite)
    _require_key(key)
    message = _data_input(suite, challenge, counter, pin, session, timestamp)
    return _ocra_response(suite, key, message)


def ocra_verify(
    suite: OcraSuite | str,
    key: HmacKey,
    response: str | bytes,
    challenge: str,
    counter: int | None = None,
    pin: str | bytes | None = None,
    session: bytes | None = None,
    timestamp: float | None = None,
) -> bool:
    suite = _as_suite(suite)
    expected = ocra(suite, key, challenge, counter, pin, session, timestamp)
    if suite.digits:
        given = _digit_string(response, suite.digits, "response")
    else:
        given = _digit_string(response, len(response), "response")
    return hmac.compare_digest(expected.encode("ascii"), given)


# --- Token buckets ---------------------------------------------------------


class TokenBuckets:
    """Token buckets keyed by any hashable, least recently used evicted.

    A new key starts with a full bucket of ``burst`` tokens, which refill at
    ``rate`` tokens per second. Time that goes backwards refills nothing.
    """

    __slots__ = ("rate", "burst", "max_keys", "_buckets")

    def __init__(self, rate: float, burst: float, max_keys: int = 100_000) -> None:
        self.rate = _finite(rate, "rate", 0.0)
        self.burst = _finite(burst, "burst", 0.0)
        if self.burst <= 0:
            raise ValueError("burst must be positive")
        self.max_keys = _as_int(max_keys, "max_keys", 1, 2**31 - 1)
        self._buckets: OrderedDict[Hashable, list[float]] = OrderedDict()

    def _refill(self, key: Hashable, now: float) -> list[float]:
        bucket = self._buckets.get(key)
        if bucket is None:
            if len(self._buckets) >= self.max_keys:
                self._buckets.popitem(last=False)
            bucket = self._buckets[key] = [self.burst, now]
        else:
            self._buckets.move_to_end(key)
            tokens, last = bucket
            if now > last:
                bucket[0] = min(self.burst, tokens + (now - last) * self.rate)
                bucket[1] = now
        return bucket

    def take(self, key: Hashable, now: float, cost: float = 1.0) -> bool:
        now = _finite(now, "now", None)
        cost = _finite(cost, "cost", 0.0)
        bucket = self._refill(key, now)
        if bucket[0] >= cost:
            bucket[0] -= cost
            return True
        return False

    def retry_after(self, key: Hashable, now: float, cost: float = 1.0) -> float:
        """Seconds until ``take(key, now + result, cost)`` would succeed."""
        now = _finite(now, "now", None)
        cost = _finite(cost, "cost", 0.0)
        bucket = self._buckets.get(key)
        if bucket is None:
            tokens = self.burst
        else:
            tokens = bucket[0]
            if now > bucket[1]:
                tokens = min(self.burst, tokens + (now - bucket[1]) * self.rate)
        if tokens >= cost:
            return 0.0
        if cost > self.burst or self.rate == 0.0:
            return math.inf
        return (cost - tokens) / self.rate

    def __len__(self) -> int:
        return len(self._buckets)

    def __contains__(self, key: Hashable) -> bool:
        return key in self._buckets


def _finite(value: Any, name: str, minimum: float | None) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{name} must be a number, not {type(value).__name__}")
    try:
        number = float(value)
    except OverflowError:
        raise ValueError(f"{name} is out of range") from None
    if not math.isfinite(number):
        raise ValueError(f"{name} must be a finite number")
    if minimum is not None and number < minimum:
        raise ValueError(f"{name} must be at least {minimum}")
    return number
