"""Hot-path primitives of the login gateway: HOTP/TOTP, OCRA, constant-time
compare and token buckets.

``import _fastcore`` gives the compiled implementation. ``GATEWAY_NO_EXTENSIONS=1``
selects the pure-Python twin (``_fastcore.pure``); so does a compiled module
that fails to import, with a warning. ``IMPLEMENTATION`` says which is in use.
"""

from __future__ import annotations

import os
import warnings

if os.environ.get("GATEWAY_NO_EXTENSIONS", "") not in ("", "0"):
    from _fastcore.pure import (
        IMPLEMENTATION,
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
else:
    try:
        from _fastcore.compiled import (
            IMPLEMENTATION,
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
    except ImportError as exc:  # pragma: no cover - exercised in a subprocess test
        warnings.warn(
            f"compiled _fastcore is unavailable ({exc}); using the pure-Python core",
            RuntimeWarning,
            stacklevel=2,
        )
        from _fastcore.pure import (
            IMPLEMENTATION,
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
