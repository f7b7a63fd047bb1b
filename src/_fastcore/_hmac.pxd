from libc.stdint cimport uint32_t, uint64_t

from _fastcore._libcrypto cimport SHA_CTX, SHA256_CTX, SHA512_CTX

cdef enum:
    ALG_SHA1 = 1
    ALG_SHA256 = 2
    ALG_SHA512 = 3
    MAX_DIGEST = 64

cdef union HashState:
    SHA_CTX sha1
    SHA256_CTX sha256
    SHA512_CTX sha512

cdef struct HmacState:
    int alg
    int digest_size
    HashState inner
    HashState outer

cdef class HmacKey:
    cdef HmacState state
    cdef readonly str algorithm

cdef int parse_algorithm(object algorithm) except -1
cdef void hmac_digest(const HmacState* st, const unsigned char* msg, size_t n,
                      unsigned char* out) noexcept nogil
cdef uint32_t truncate(const unsigned char* digest, int size) noexcept nogil
cdef void write_digits(uint64_t value, int digits, char* out) noexcept nogil
cdef long long as_int(object value, str name, long long low, long long high) except? -1
cdef uint64_t as_counter(object value, str name) except? 0
cdef long long as_seconds(object value, str name) except? -1
cdef const char* digit_buffer(object code, Py_ssize_t* size, str name) except NULL
