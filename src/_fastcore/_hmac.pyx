# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
"""HMAC with precomputed states, HOTP, TOTP verification and constant-time compare.

The ``def`` functions validate their arguments once; the work after that runs
in ``cdef ... nogil`` functions on C data.

The GIL is released around hashing that takes longer than releasing it does:
from NOGIL_HMACS HMACs (or NOGIL_BYTES of input) up. One HMAC-SHA1 costs about
140 ns here and a release/reacquire about 50 ns; worse, on the event-loop
thread a reacquire can wait a whole switch interval (5 ms) behind a worker
thread, so a single TOTP check is faster and steadier with the GIL held.
"""

cimport cython
from libc.stdint cimport int64_t, uint32_t, uint64_t
from libc.string cimport memcpy, memset
from libc.math cimport floor, isfinite
from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_GET_SIZE
from cpython.long cimport PyLong_AsLongLongAndOverflow
from cpython.unicode cimport PyUnicode_DecodeASCII

from _fastcore._libcrypto cimport (
    CRYPTO_memcmp, OPENSSL_cleanse,
    SHA1, SHA1_Final, SHA1_Init, SHA1_Update, SHA_CTX,
    SHA256, SHA256_Final, SHA256_Init, SHA256_Update, SHA256_CTX,
    SHA512, SHA512_Final, SHA512_Init, SHA512_Update, SHA512_CTX,
)

cdef extern from "Python.h":
    const char* PyUnicode_AsUTF8AndSize(object s, Py_ssize_t* size) except NULL
    bint PyUnicode_IS_ASCII(object s)

cdef enum:
    MIN_DIGITS = 4
    MAX_DIGITS = 10
    MAX_WINDOW = 1000
    NOGIL_BYTES = 4096
    NOGIL_HMACS = 8

cdef uint64_t POW10[11]
POW10[0] = 1
for _i in range(1, 11):
    POW10[_i] = POW10[_i - 1] * 10

cdef long long MAX_TIME = 1LL << 62
cdef uint64_t MAX_COUNTER = 0xFFFFFFFFFFFFFFFFULL


# --- argument checks -------------------------------------------------------

cdef long long as_int(object value, str name, long long low, long long high) except? -1:
    cdef int overflow = 0
    cdef long long number
    if type(value) is not int and (isinstance(value, bool) or not isinstance(value, int)):
        raise TypeError(f"{name} must be an int, not {type(value).__name__}")
    number = PyLong_AsLongLongAndOverflow(value, &overflow)
    if overflow or number < low or number > high:
        raise ValueError(f"{name} must be between {low} and {high}, got {value}")
    return number


cdef uint64_t as_counter(object value, str name) except? 0:
    cdef int overflow = 0
    cdef long long number
    if type(value) is not int and (isinstance(value, bool) or not isinstance(value, int)):
        raise TypeError(f"{name} must be an int, not {type(value).__name__}")
    number = PyLong_AsLongLongAndOverflow(value, &overflow)
    if not overflow and number >= 0:
        return <uint64_t>number
    if overflow > 0 and value <= 0xFFFFFFFFFFFFFFFF:
        return <uint64_t>value
    raise ValueError(f"{name} must be between 0 and {0xFFFFFFFFFFFFFFFF}, got {value}")


cdef long long as_seconds(object value, str name) except? -1:
    """Whole seconds (floor) of a non-negative int or float time."""
    cdef double real
    if type(value) is float:
        real = <double>value
        if not isfinite(real):
            raise ValueError(f"{name} must be finite")
        if real < 0:
            raise ValueError(f"{name} must not be negative")
        if real >= <double>MAX_TIME:
            raise ValueError(f"{name} must be between 0 and {MAX_TIME}, got {value}")
        return <long long>floor(real)
    if type(value) is not int and (isinstance(value, bool) or not isinstance(value, (int, float))):
        raise TypeError(f"{name} must be a number, not {type(value).__name__}")
    if isinstance(value, float):
        return as_seconds(float(value), name)
    if value < 0:
        raise ValueError(f"{name} must not be negative")
    return as_int(value, name, 0, MAX_TIME - 1)


cdef int parse_algorithm(object algorithm) except -1:
    if not isinstance(algorithm, str):
        raise TypeError("algorithm must be a str")
    if algorithm == "sha1":
        return ALG_SHA1
    if algorithm == "sha256":
        return ALG_SHA256
    if algorithm == "sha512":
        return ALG_SHA512
    raise ValueError(f"algorithm must be one of sha1, sha256, sha512, got {algorithm!r}")


cdef const char* digit_buffer(object code, Py_ssize_t* size, str name) except NULL:
    """Borrow the characters of a str or bytes code; check they are ASCII digits."""
    cdef const char* chars
    cdef Py_ssize_t i
    if isinstance(code, str):
        if not PyUnicode_IS_ASCII(code):
            raise ValueError(f"{name} must be ASCII digits")
        chars = PyUnicode_AsUTF8AndSize(code, size)
    elif isinstance(code, bytes):
        chars = PyBytes_AS_STRING(code)
        size[0] = PyBytes_GET_SIZE(code)
    elif isinstance(code, bytearray):
        chars = <const char*>(<bytearray>code)
        size[0] = len(<bytearray>code)
    else:
        raise TypeError(f"{name} must be str or bytes, not {type(code).__name__}")
    for i in range(size[0]):
        if chars[i] < c'0' or chars[i] > c'9':
            raise ValueError(f"{name} must contain only the digits 0-9")
    return chars


cdef uint64_t parse_code(object code, int digits, str name) except? 0xFFFFFFFFFFFFFFFF:
    cdef Py_ssize_t size = 0, i
    cdef const char* chars = digit_buffer(code, &size, name)
    cdef uint64_t value = 0
    if size != digits:
        raise ValueError(f"{name} must be exactly {digits} digits")
    for i in range(size):
        value = value * 10 + <uint64_t>(chars[i] - c'0')
    return value


# --- HMAC ------------------------------------------------------------------

cdef void hmac_digest(const HmacState* st, const unsigned char* msg, size_t n,
                      unsigned char* out) noexcept nogil:
    cdef HashState ctx
    if st.alg == ALG_SHA1:
        memcpy(&ctx.sha1, &st.inner.sha1, sizeof(SHA_CTX))
        SHA1_Update(&ctx.sha1, msg, n)
        SHA1_Final(out, &ctx.sha1)
        memcpy(&ctx.sha1, &st.outer.sha1, sizeof(SHA_CTX))
        SHA1_Update(&ctx.sha1, out, 20)
        SHA1_Final(out, &ctx.sha1)
    elif st.alg == ALG_SHA256:
        memcpy(&ctx.sha256, &st.inner.sha256, sizeof(SHA256_CTX))
        SHA256_Update(&ctx.sha256, msg, n)
        SHA256_Final(out, &ctx.sha256)
        memcpy(&ctx.sha256, &st.outer.sha256, sizeof(SHA256_CTX))
        SHA256_Update(&ctx.sha256, out, 32)
        SHA256_Final(out, &ctx.sha256)
    else:
        memcpy(&ctx.sha512, &st.inner.sha512, sizeof(SHA512_CTX))
        SHA512_Update(&ctx.sha512, msg, n)
        SHA512_Final(out, &ctx.sha512)
        memcpy(&ctx.sha512, &st.outer.sha512, sizeof(SHA512_CTX))
        SHA512_Update(&ctx.sha512, out, 64)
        SHA512_Final(out, &ctx.sha512)


cdef void hmac_init(HmacState* st, int alg, const unsigned char* secret, size_t n) noexcept nogil:
    cdef unsigned char block[128]
    cdef unsigned char pad[128]
    cdef size_t size = 128 if alg == ALG_SHA512 else 64
    cdef size_t i
    memset(block, 0, sizeof(block))
    st.alg = alg
    if alg == ALG_SHA1:
        st.digest_size = 20
        if n > size:
            SHA1(secret, n, block)
    elif alg == ALG_SHA256:
        st.digest_size = 32
        if n > size:
            SHA256(secret, n, block)
    else:
        st.digest_size = 64
        if n > size:
            SHA512(secret, n, block)
    if n <= size:
        memcpy(block, secret, n)
    for i in range(size):
        pad[i] = block[i] ^ 0x36
    if alg == ALG_SHA1:
        SHA1_Init(&st.inner.sha1)
        SHA1_Update(&st.inner.sha1, pad, size)
    elif alg == ALG_SHA256:
        SHA256_Init(&st.inner.sha256)
        SHA256_Update(&st.inner.sha256, pad, size)
    else:
        SHA512_Init(&st.inner.sha512)
        SHA512_Update(&st.inner.sha512, pad, size)
    for i in range(size):
        pad[i] = block[i] ^ 0x5c
    if alg == ALG_SHA1:
        SHA1_Init(&st.outer.sha1)
        SHA1_Update(&st.outer.sha1, pad, size)
    elif alg == ALG_SHA256:
        SHA256_Init(&st.outer.sha256)
        SHA256_Update(&st.outer.sha256, pad, size)
    else:
        SHA512_Init(&st.outer.sha512)
        SHA512_Update(&st.outer.sha512, pad, size)
    OPENSSL_cleanse(block, sizeof(block))
    OPENSSL_cleanse(pad, sizeof(pad))


cdef uint32_t truncate(const unsigned char* digest, int size) noexcept nogil:
    cdef int offset = digest[size - 1] & 0x0F
    return ((<uint32_t>(digest[offset] & 0x7F) << 24)
            | (<uint32_t>digest[offset + 1] << 16)
            | (<uint32_t>digest[offset + 2] << 8)
            | <uint32_t>digest[offset + 3])


cdef void write_digits(uint64_t value, int digits, char* out) noexcept nogil:
    cdef int i
    for i in range(digits - 1, -1, -1):
        out[i] = <char>(c'0' + value % 10)
        value //= 10


cdef inline uint64_t hotp_value(const HmacState* st, uint64_t counter, int digits) noexcept nogil:
    cdef unsigned char message[8]
    cdef unsigned char digest[MAX_DIGEST]
    cdef int i
    for i in range(8):
        message[7 - i] = (counter >> (8 * i)) & 0xFF
    hmac_digest(st, message, 8, digest)
    return truncate(digest, st.digest_size) % POW10[digits]


cdef long long totp_match(const HmacState* st, uint64_t given, long long current, int window,
                          long long after_counter, int digits) noexcept nogil:
    # No early exit and no branch on the secret comparison: every step in the
    # window costs the same, whichever matched.
    cdef long long matched = -1, counter, mask
    cdef uint64_t diff, ok
    for counter in range(current - window, current + window + 1):
        if counter < 0:
            continue
        diff = hotp_value(st, <uint64_t>counter, digits) ^ given
        ok = ((diff | (0 - diff)) >> 63) ^ 1
        ok &= <uint64_t>(counter > after_counter)
        mask = -<long long>ok
        matched = (counter & mask) | (matched & ~mask)
    return matched


@cython.auto_pickle(False)
@cython.final
cdef class HmacKey:
    """An HMAC secret with its inner and outer hash states computed once."""

    def __cinit__(self, secret, algorithm="sha1"):
        cdef int alg = parse_algorithm(algorithm)
        cdef bytes raw
        if not isinstance(secret, (bytes, bytearray, memoryview)):
            raise TypeError(f"secret must be bytes, not {type(secret).__name__}")
        raw = bytes(secret)
        if not raw:
            raise ValueError("secret must not be empty")
        hmac_init(&self.state, alg, <const unsigned char*>PyBytes_AS_STRING(raw),
                  <size_t>PyBytes_GET_SIZE(raw))
        self.algorithm = algorithm

    def __dealloc__(self):
        OPENSSL_cleanse(&self.state, sizeof(HmacState))

    @property
    def digest_size(self):
        return self.state.digest_size

    def digest(self, message):
        """HMAC of ``message`` under this key."""
        cdef unsigned char out[MAX_DIGEST]
        cdef bytes raw
        cdef Py_ssize_t size
        cdef const unsigned char* data
        if not isinstance(message, (bytes, bytearray, memoryview)):
            raise TypeError(f"message must be bytes, not {type(message).__name__}")
        raw = bytes(message)
        size = PyBytes_GET_SIZE(raw)
        data = <const unsigned char*>PyBytes_AS_STRING(raw)
        if size > NOGIL_BYTES:
            with nogil:
                hmac_digest(&self.state, data, <size_t>size, out)
        else:
            hmac_digest(&self.state, data, <size_t>size, out)
        return out[:self.state.digest_size]

    def __repr__(self):
        return f"HmacKey(algorithm={self.algorithm!r})"

    def __reduce__(self):
        raise TypeError("HmacKey holds a secret and cannot be pickled")


def hotp(HmacKey key not None, counter, digits=6):
    """RFC 4226 HOTP value of ``counter`` as a zero-padded string."""
    cdef uint64_t c = as_counter(counter, "counter")
    cdef int d = <int>as_int(digits, "digits", MIN_DIGITS, MAX_DIGITS)
    cdef char out[MAX_DIGITS]
    write_digits(hotp_value(&key.state, c, d), d, out)
    return PyUnicode_DecodeASCII(out, d, NULL)


def totp_verify(HmacKey key not None, code, unix_time, step=30, t0=0, digits=6, window=1,
                after_counter=-1):
    """Return the time step whose code matches, or -1.

    Every step from ``T - window`` to ``T + window`` is computed and compared
    whatever the outcome. Steps at or below ``after_counter`` never match.
    When several steps match, the latest one is returned.
    """
    cdef int d = <int>as_int(digits, "digits", MIN_DIGITS, MAX_DIGITS)
    cdef long long s = as_int(step, "step", 1, 1LL << 40)
    cdef long long start = as_int(t0, "t0", 0, MAX_TIME)
    cdef int w = <int>as_int(window, "window", 0, MAX_WINDOW)
    cdef long long after = as_int(after_counter, "after_counter", -1, 0x7FFFFFFFFFFFFFFF)
    cdef long long now = as_seconds(unix_time, "unix_time")
    cdef uint64_t given = parse_code(code, d, "code")
    cdef long long matched
    if now < start:
        raise ValueError("unix_time must not be before t0")
    if 2 * w + 1 >= NOGIL_HMACS:
        with nogil:
            matched = totp_match(&key.state, given, (now - start) // s, w, after, d)
    else:
        matched = totp_match(&key.state, given, (now - start) // s, w, after, d)
    return matched


def hotp_loop(HmacKey key not None, n, counter=0, digits=6):
    """Compute ``n`` HOTP values from ``counter`` on; return the sum of the codes.

    The benchmark floor: ``n`` HMACs on precomputed states with no Python in
    between.
    """
    cdef long long count = as_int(n, "n", 0, 1000000000)
    cdef uint64_t first = as_counter(counter, "counter")
    cdef int d = <int>as_int(digits, "digits", MIN_DIGITS, MAX_DIGITS)
    cdef uint64_t total = 0, i
    if count and first > MAX_COUNTER - <uint64_t>(count - 1):
        raise ValueError("counter range exceeds 2**64 - 1")
    if count >= NOGIL_HMACS:
        with nogil:
            for i in range(<uint64_t>count):
                total += hotp_value(&key.state, first + i, d)
    else:
        for i in range(<uint64_t>count):
            total += hotp_value(&key.state, first + i, d)
    return total


cdef bint ct_compare(const unsigned char* a, Py_ssize_t na,
                     const unsigned char* b, Py_ssize_t nb) noexcept nogil:
    # Unequal lengths still cost a pass over b, so time depends on lengths only.
    if na != nb:
        CRYPTO_memcmp(b, b, <size_t>nb)
        return False
    return CRYPTO_memcmp(a, b, <size_t>na) == 0


def ct_equal(a, b):
    """Compare two secrets in time that depends only on their lengths."""
    cdef const char* pa
    cdef const char* pb
    cdef Py_ssize_t na = 0, nb = 0
    cdef bint equal
    if isinstance(a, str) and isinstance(b, str):
        pa = PyUnicode_AsUTF8AndSize(a, &na)
        pb = PyUnicode_AsUTF8AndSize(b, &nb)
    elif type(a) is bytes and type(b) is bytes:
        pa = PyBytes_AS_STRING(a)
        na = PyBytes_GET_SIZE(a)
        pb = PyBytes_AS_STRING(b)
        nb = PyBytes_GET_SIZE(b)
    elif (isinstance(a, (bytes, bytearray, memoryview))
          and isinstance(b, (bytes, bytearray, memoryview))):
        return ct_equal(bytes(a), bytes(b))
    else:
        raise TypeError(f"ct_equal compares two str or two bytes, not {type(a).__name__} "
                        f"and {type(b).__name__}")
    # Short secrets are compared with the GIL held: releasing it costs more
    # than the comparison.
    if na + nb > NOGIL_BYTES:
        with nogil:
            equal = ct_compare(<const unsigned char*>pa, na, <const unsigned char*>pb, nb)
    else:
        equal = ct_compare(<const unsigned char*>pa, na, <const unsigned char*>pb, nb)
    return equal
