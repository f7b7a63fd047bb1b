# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
"""OCRA (RFC 6287): suite parsing, response computation and verification.

The data input is assembled in a C buffer, then hashed and truncated in C.
The suite grammar is parsed by hand (the pure twin uses regular
expressions), so the two implementations check each other.
"""

cimport cython
from libc.stdint cimport uint32_t, uint64_t
from libc.string cimport memcpy, memset
from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_GET_SIZE
from cpython.unicode cimport PyUnicode_DecodeASCII

from _fastcore._libcrypto cimport CRYPTO_memcmp, OPENSSL_cleanse, SHA1, SHA256, SHA512
from _fastcore._hmac cimport (
    ALG_SHA1, ALG_SHA256, ALG_SHA512, MAX_DIGEST, HmacKey, HmacState,
    as_counter, as_seconds, digit_buffer, hmac_digest, truncate, write_digits,
)

cdef extern from "Python.h":
    const char* PyUnicode_AsUTF8AndSize(object s, Py_ssize_t* size) except NULL
    bint PyUnicode_IS_ASCII(object s)

cdef enum:
    QUESTION_BYTES = 128
    MESSAGE_MAX = 1024
    MAX_SUITE_LENGTH = 128
    RESPONSE_MAX = 16


cdef int small_number(str text, int low, int high, int width) except -2:
    """The value of ``text`` if it is a plain decimal in [low, high], else -1.

    ``width`` > 0 asks for exactly that many digits (leading zeros allowed);
    otherwise leading zeros are refused.
    """
    if not text or not text.isdigit() or len(text) > 3:
        return -1
    if width > 0 and len(text) != width:
        return -1
    if width == 0 and len(text) > 1 and text[0] == "0":
        return -1
    value = int(text)
    return value if low <= value <= high else -1


@cython.auto_pickle(False)
@cython.final
cdef class OcraSuite:
    """A parsed RFC 6287 suite string, e.g. ``OCRA-1:HOTP-SHA1-6:QN08``."""

    cdef readonly str suite
    cdef readonly str algorithm
    cdef readonly int digits
    cdef readonly bint counter
    cdef readonly str challenge_format
    cdef readonly int challenge_length
    cdef readonly object pin_algorithm
    cdef readonly int session_length
    cdef readonly long time_step
    cdef int alg
    cdef int pin_alg
    cdef bytes prefix

    def __cinit__(self, suite):
        if not isinstance(suite, str):
            raise TypeError(f"suite must be a str, not {type(suite).__name__}")
        if len(suite) > MAX_SUITE_LENGTH or not suite.isascii():
            raise ValueError("suite is not an OCRA suite string")
        parts = suite.split(":")
        if len(parts) != 3 or parts[0] != "OCRA-1":
            raise ValueError(f"suite must look like OCRA-1:HOTP-SHA1-6:QN08, got {suite!r}")
        self.suite = suite
        self.prefix = suite.encode("ascii") + b"\0"
        self.challenge_format = ""
        self.pin_algorithm = None
        self._parse_crypto(parts[1])
        order = "CQPST"
        seen = -1
        for item in parts[2].split("-"):
            position = order.find(item[0]) if item else -1
            if position <= seen:
                raise ValueError(f"bad data input {parts[2]!r}: want [C-]QFxx[-PH][-Snnn][-TG]")
            seen = position
            self._parse_item(item)
        if not self.challenge_format:
            raise ValueError("suite has no challenge (QFxx) data input")

    cdef _parse_crypto(self, str text):
        fields = text.split("-")
        names = {"SHA1": ALG_SHA1, "SHA256": ALG_SHA256, "SHA512": ALG_SHA512}
        digits = small_number(fields[2], 0, 10, 0) if len(fields) == 3 else -1
        if (len(fields) != 3 or fields[0] != "HOTP" or fields[1] not in names
                or digits < 0 or 1 <= digits <= 3):
            raise ValueError(f"bad crypto function {text!r}: want HOTP-SHA1|256|512-0|4..10")
        self.alg = names[fields[1]]
        self.algorithm = fields[1].lower()
        self.digits = digits

    cdef _parse_item(self, str item):
        kind = item[0]
        if kind == "C":
            if item != "C":
                raise ValueError(f"bad counter data input {item!r}")
            self.counter = True
        elif kind == "Q":
            length = small_number(item[2:], 4, 64, 2)
            if len(item) != 4 or item[1] not in "ANH" or length < 0:
                raise ValueError(f"bad challenge data input {item!r}: want QA|QN|QH04..64")
            self.challenge_format = item[1]
            self.challenge_length = length
        elif kind == "P":
            names = {"PSHA1": ALG_SHA1, "PSHA256": ALG_SHA256, "PSHA512": ALG_SHA512}
            if item not in names:
                raise ValueError(f"bad PIN data input {item!r}: want PSHA1|PSHA256|PSHA512")
            self.pin_alg = names[item]
            self.pin_algorithm = item[1:].lower()
        elif kind == "S":
            if item not in ("S064", "S128", "S256", "S512"):
                raise ValueError(f"bad session data input {item!r}: want S064|S128|S256|S512")
            self.session_length = int(item[1:])
        else:
            unit = item[len(item) - 1] if len(item) > 2 else ""
            limits = {"S": (1, 59, 1), "M": (1, 56, 60), "H": (0, 48, 3600)}
            low, high, seconds = limits.get(unit, (1, 0, 0))
            count = small_number(item[1:len(item) - 1], low, high, 0)
            if count < 0:
                raise ValueError(f"bad time data input {item!r}: want T1-59S|T1-56M|T0-48H")
            if count == 0:
                raise ValueError("time step T0H divides by zero; use T1H..T48H")
            self.time_step = count * seconds

    def __repr__(self):
        return f"OcraSuite({self.suite!r})"

    def __reduce__(self):
        return (OcraSuite, (self.suite,))


cdef OcraSuite as_suite(object suite):
    if isinstance(suite, OcraSuite):
        return <OcraSuite>suite
    if isinstance(suite, str):
        return OcraSuite(suite)
    raise TypeError(f"suite must be an OcraSuite or str, not {type(suite).__name__}")


cdef inline int hex_value(char c) noexcept nogil:
    if c'0' <= c <= c'9':
        return c - c'0'
    if c'a' <= c <= c'f':
        return c - c'a' + 10
    if c'A' <= c <= c'F':
        return c - c'A' + 10
    return -1


cdef inline void put_nibble(unsigned char* out, Py_ssize_t index, int value) noexcept nogil:
    if index % 2 == 0:
        out[index // 2] |= <unsigned char>(value << 4)
    else:
        out[index // 2] |= <unsigned char>value


cdef void numeric_question(const char* digits, Py_ssize_t n, unsigned char* out) noexcept nogil:
    # The decimal challenge as a big-endian integer, then its hex digits (no
    # leading zeros) placed from the left of the 128-byte field, as the RFC's
    # reference code does with BigInteger.toString(16) padded on the right.
    cdef unsigned char number[QUESTION_BYTES]
    cdef Py_ssize_t i, j, low = QUESTION_BYTES - 1, first = 2 * QUESTION_BYTES - 1
    cdef unsigned int carry
    cdef int nibble
    memset(number, 0, QUESTION_BYTES)
    for i in range(n):
        carry = <unsigned int>(digits[i] - c'0')
        # Bytes left of ``low`` are still zero: only the used ones are multiplied.
        for j in range(QUESTION_BYTES - 1, low - 1, -1):
            carry += number[j] * 10u
            number[j] = carry & 0xFF
            carry >>= 8
        while carry and low > 0:
            low -= 1
            number[low] = carry & 0xFF
            carry >>= 8
    for j in range(2 * low, 2 * QUESTION_BYTES):
        nibble = (number[j // 2] >> 4) if j % 2 == 0 else (number[j // 2] & 0x0F)
        if nibble:
            first = j
            break
    for j in range(first, 2 * QUESTION_BYTES):
        nibble = (number[j // 2] >> 4) if j % 2 == 0 else (number[j // 2] & 0x0F)
        put_nibble(out, j - first, nibble)


cdef int encode_question(OcraSuite suite, object challenge, unsigned char* out) except -1:
    cdef const char* chars
    cdef Py_ssize_t size = 0, i
    cdef int value
    if not isinstance(challenge, str):
        raise TypeError(f"challenge must be a str, not {type(challenge).__name__}")
    if not challenge or not PyUnicode_IS_ASCII(challenge):
        raise ValueError("challenge must be a non-empty ASCII string")
    chars = PyUnicode_AsUTF8AndSize(challenge, &size)
    memset(out, 0, QUESTION_BYTES)
    if suite.challenge_format == "N":
        for i in range(size):
            if not c'0' <= chars[i] <= c'9':
                raise ValueError("numeric challenge must contain only the digits 0-9")
        if size > 2 * QUESTION_BYTES:
            raise ValueError("challenge does not fit the 128-byte question field")
        numeric_question(chars, size, out)
    elif suite.challenge_format == "H":
        for i in range(size):
            if hex_value(chars[i]) < 0:
                raise ValueError("hex challenge must contain only 0-9, a-f, A-F")
        if size > 2 * QUESTION_BYTES:
            raise ValueError("challenge does not fit the 128-byte question field")
        for i in range(size):
            put_nibble(out, i, hex_value(chars[i]))
    else:
        for i in range(size):
            if hex_value(chars[i]) < 0 and not (c'g' <= chars[i] <= c'z'
                                                or c'G' <= chars[i] <= c'Z'):
                raise ValueError("alphanumeric challenge must contain only letters and digits")
        if size > QUESTION_BYTES:
            raise ValueError("challenge does not fit the 128-byte question field")
        memcpy(out, chars, <size_t>size)
    return QUESTION_BYTES


cdef bytes as_bytes(object value, str name):
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value)
    raise TypeError(f"{name} must be bytes, not {type(value).__name__}")


cdef void put_uint64(unsigned char* out, uint64_t value) noexcept nogil:
    cdef int i
    for i in range(8):
        out[7 - i] = (value >> (8 * i)) & 0xFF


cdef Py_ssize_t data_input(OcraSuite suite, object challenge, object counter, object pin,
                           object session, object timestamp, unsigned char* msg) except -1:
    cdef Py_ssize_t n = PyBytes_GET_SIZE(suite.prefix)
    cdef bytes raw
    cdef Py_ssize_t size
    memcpy(msg, PyBytes_AS_STRING(suite.prefix), <size_t>n)
    if suite.counter:
        if counter is None:
            raise ValueError("suite needs a counter")
        put_uint64(msg + n, as_counter(counter, "counter"))
        n += 8
    elif counter is not None:
        raise ValueError("suite takes no counter")
    n += encode_question(suite, challenge, msg + n)
    if suite.pin_alg:
        if pin is None:
            raise ValueError("suite needs a PIN")
        raw = as_bytes(pin.encode("utf-8") if isinstance(pin, str) else pin, "pin")
        if not raw:
            raise ValueError("pin must not be empty")
        size = PyBytes_GET_SIZE(raw)
        if suite.pin_alg == ALG_SHA1:
            SHA1(<const unsigned char*>PyBytes_AS_STRING(raw), <size_t>size, msg + n)
            n += 20
        elif suite.pin_alg == ALG_SHA256:
            SHA256(<const unsigned char*>PyBytes_AS_STRING(raw), <size_t>size, msg + n)
            n += 32
        else:
            SHA512(<const unsigned char*>PyBytes_AS_STRING(raw), <size_t>size, msg + n)
            n += 64
    elif pin is not None:
        raise ValueError("suite takes no PIN")
    if suite.session_length:
        if session is None:
            raise ValueError("suite needs session information")
        raw = as_bytes(session, "session")
        size = PyBytes_GET_SIZE(raw)
        if size > suite.session_length:
            raise ValueError(f"session information is longer than {suite.session_length} bytes")
        memset(msg + n, 0, <size_t>(suite.session_length - size))
        memcpy(msg + n + suite.session_length - size, PyBytes_AS_STRING(raw), <size_t>size)
        n += suite.session_length
    elif session is not None:
        raise ValueError("suite takes no session information")
    if suite.time_step:
        if timestamp is None:
            raise ValueError("suite needs a timestamp")
        put_uint64(msg + n, <uint64_t>(as_seconds(timestamp, "timestamp") // suite.time_step))
        n += 8
    elif timestamp is not None:
        raise ValueError("suite takes no timestamp")
    return n


cdef int respond(const HmacState* key, int digits, const unsigned char* msg, size_t n,
                 char* out) noexcept nogil:
    cdef unsigned char digest[MAX_DIGEST]
    cdef uint64_t value, power = 1
    cdef int i, size
    hmac_digest(key, msg, n, digest)
    value = truncate(digest, key.digest_size)
    OPENSSL_cleanse(digest, MAX_DIGEST)
    if digits == 0:
        size = 1
        while power * 10 <= value:
            power *= 10
            size += 1
        write_digits(value, size, out)
        return size
    for i in range(digits):
        power *= 10
    write_digits(value % power, digits, out)
    return digits


cdef int compute(OcraSuite suite, HmacKey key, object challenge, object counter, object pin,
                 object session, object timestamp, char* out) except -1:
    cdef unsigned char msg[MESSAGE_MAX]
    cdef Py_ssize_t n = data_input(suite, challenge, counter, pin, session, timestamp, msg)
    cdef int size
    if key.state.alg != suite.alg:
        raise ValueError(f"suite uses {suite.algorithm} but the key is {key.algorithm}")
    # One HMAC over at most ~850 bytes: cheaper with the GIL held (see _hmac.pyx).
    size = respond(&key.state, suite.digits, msg, <size_t>n, out)
    OPENSSL_cleanse(msg, MESSAGE_MAX)
    return size


def ocra(suite, HmacKey key not None, challenge, counter=None, pin=None, session=None,
         timestamp=None):
    """The OCRA response for ``challenge`` (and the counter, PIN, session and
    timestamp the suite asks for)."""
    cdef char out[RESPONSE_MAX]
    cdef int size = compute(as_suite(suite), key, challenge, counter, pin, session, timestamp,
                            out)
    return PyUnicode_DecodeASCII(out, size, NULL)


def ocra_verify(suite, HmacKey key not None, response, challenge, counter=None, pin=None,
                session=None, timestamp=None):
    """Whether ``response`` is the OCRA response, compared in constant time."""
    cdef OcraSuite parsed = as_suite(suite)
    cdef char out[RESPONSE_MAX]
    cdef int size = compute(parsed, key, challenge, counter, pin, session, timestamp, out)
    cdef Py_ssize_t given_size = 0
    cdef const char* given = digit_buffer(response, &given_size, "response")
    if parsed.digits and given_size != parsed.digits:
        raise ValueError(f"response must be exactly {parsed.digits} digits")
    if given_size == 0:
        raise ValueError("response must contain only the digits 0-9")
    if given_size != size:
        return False
    return CRYPTO_memcmp(out, given, <size_t>size) == 0
