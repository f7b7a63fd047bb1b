"""Hot-path primitives of the login gateway: HOTP/TOTP, OCRA, constant-time
compare and token buckets.

``import _fastcore`` gives the compiled implementation. ``GATEWAY_NO_EXTENSIONS=1``
selects the pure-Python twin (``_fastcore.pure``); so does a compiled module
that fails to import, with a warning. ``IMPLEMENTATION`` says which is in use.
"""

from __future__ import annotations

import os
import types
import warnings

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


def _select() -> types.ModuleType:
    if os.environ.get("GATEWAY_NO_EXTENSIONS", "") not in ("", "0"):
        from _fastcore import pure

        return pure
    try:
        from _fastcore import compiled
    except ImportError as exc:
        warnings.warn(
            f"compiled _fastcore is unavailable ({exc}); using the pure-Python core",
            RuntimeWarning,
            stacklevel=3,
        )
        from _fastcore import pure

        return pure
    return compiled


_implementation = _select()
# Both implementations export the same names; the type stub (__init__.pyi)
# spells them out.
globals().update({name: getattr(_implementation, name) for name in __all__})
