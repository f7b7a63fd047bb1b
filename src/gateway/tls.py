"""The one TLS server context of every listener (the data plane's public
address and the Hypercorn ones), so that none accepts what another refuses.

Mozilla's "intermediate" profile: TLS 1.3, and TLS 1.2 with forward-secret
AEAD suites only (ECDHE with AES-GCM or ChaCha20-Poly1305). CBC suites
(``ECDHE-RSA-AES128-SHA256`` and the like) are refused: they are what
Lucky13-style padding oracles attack. DHE is left out, as OpenSSL through
Python has no DH parameters to offer anyway.
"""

from __future__ import annotations

import ssl

# TLS 1.2 suites (TLS 1.3's are OpenSSL's own and all AEAD).
INTERMEDIATE_CIPHERS = ":".join(
    (
        "ECDHE-ECDSA-AES128-GCM-SHA256",
        "ECDHE-RSA-AES128-GCM-SHA256",
        "ECDHE-ECDSA-AES256-GCM-SHA384",
        "ECDHE-RSA-AES256-GCM-SHA384",
        "ECDHE-ECDSA-CHACHA20-POLY1305",
        "ECDHE-RSA-CHACHA20-POLY1305",
    )
)


def server_context(certfile: str, keyfile: str | None, alpn: list[str]) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.set_ciphers(INTERMEDIATE_CIPHERS)
    # No compression (CRIME; RFC 7540 9.2.1 for HTTP/2); no renegotiation.
    context.options |= ssl.OP_NO_COMPRESSION | ssl.OP_NO_RENEGOTIATION
    context.load_cert_chain(certfile, keyfile)
    context.set_alpn_protocols(alpn)
    return context
