"""The compiled implementation, gathered from its Cython modules."""

from _fastcore._buckets import TokenBuckets
from _fastcore._hmac import HmacKey, ct_equal, hotp, hotp_loop, totp_verify
from _fastcore._ocra import OcraSuite, ocra, ocra_verify

IMPLEMENTATION = "compiled"

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
