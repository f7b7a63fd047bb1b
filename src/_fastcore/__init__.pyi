# Type interface of the package: both implementations share the pure twin's API.
from _fastcore.pure import (
    HmacKey,
    OcraSuite,
    TokenBuckets,
    ct_equal,
    hotp,
    hotp_loop,
    ocra,
    ocra_verify,
    totp_verify,
)

IMPLEMENTATION: str

__all__ = [
    "IMPLEMENTATION",
    "HmacKey",
    "OcraSuite",
    "TokenBuckets",
    "ct_equal",
    "hotp",
    "hotp_loop",
    "ocra",
    "ocra_verify",
    "totp_verify",
]
