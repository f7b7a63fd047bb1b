# Declarations of the parts of OpenSSL's libcrypto that the core uses.
# The low-level SHA interfaces are deprecated in OpenSSL 3 but remain exported;
# they are the only ones whose context structs can be copied by value, which is
# what precomputed HMAC states need.

cdef extern from "openssl/sha.h" nogil:
    ctypedef struct SHA_CTX:
        pass
    ctypedef struct SHA256_CTX:
        pass
    ctypedef struct SHA512_CTX:
        pass

    int SHA1_Init(SHA_CTX* c)
    int SHA1_Update(SHA_CTX* c, const void* data, size_t n)
    int SHA1_Final(unsigned char* md, SHA_CTX* c)
    int SHA256_Init(SHA256_CTX* c)
    int SHA256_Update(SHA256_CTX* c, const void* data, size_t n)
    int SHA256_Final(unsigned char* md, SHA256_CTX* c)
    int SHA512_Init(SHA512_CTX* c)
    int SHA512_Update(SHA512_CTX* c, const void* data, size_t n)
    int SHA512_Final(unsigned char* md, SHA512_CTX* c)

    unsigned char* SHA1(const unsigned char* d, size_t n, unsigned char* md)
    unsigned char* SHA256(const unsigned char* d, size_t n, unsigned char* md)
    unsigned char* SHA512(const unsigned char* d, size_t n, unsigned char* md)

cdef extern from "openssl/crypto.h" nogil:
    int CRYPTO_memcmp(const void* a, const void* b, size_t n)
    void OPENSSL_cleanse(void* ptr, size_t n)
