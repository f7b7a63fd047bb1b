"""What a passkey verification costs on the event loop: the ``passkey``
factor's ``verify`` (msgspec read of the assertion, py_webauthn's checks,
one ECDSA P-256 verification), against py_webauthn fed the same JSON string
(its own parser), and the floor, the bare ECDSA verification through
``cryptography``, all in the same run.

Run: python -m bench.micro -k passkey
"""

import hashlib
import json

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from webauthn import verify_authentication_response

from gateway.auth.factors.passkey import (
    Passkey,
    creation_options,
    passkey_of,
    registered,
    seal_form,
)
from gateway.config import PasskeyConfig
from gateway.encoding import from_b64u
from gateway.simulators import SoftAuthenticator
from gateway.store.base import Device

CONFIG = PasskeyConfig(rp_id="example.com", origins=["https://login.example.com"])
ORIGIN = "https://login.example.com"
NOW = 1_700_000_000.0


@pytest.fixture(scope="module")
def signed():
    """A registered synced passkey (counter 0: every call verifies the same
    assertion) and one assertion for one challenge."""
    authenticator = SoftAuthenticator(synced=True)
    options, ceremony = creation_options(CONFIG, b"handle", "alice", [], NOW)
    secret, _ = registered(
        CONFIG, json.dumps(authenticator.create(options, ORIGIN)), ceremony, b"handle"
    )
    device = Device("d1", "alice", "passkey", None, seal_form(secret), 0, NOW)
    factor = Passkey(CONFIG)
    challenge = factor.issue_challenge([device], NOW)
    assertion = authenticator.get(dict(challenge.options or {}), ORIGIN)
    assert factor.verify(device, json.dumps(assertion), NOW, challenge).ok
    return factor, device, challenge, assertion, authenticator


@pytest.mark.benchmark(group="passkey_verify")
def test_passkey_factor_verify(benchmark, signed):
    factor, device, challenge, assertion, _ = signed
    text = json.dumps(assertion)
    assert benchmark(factor.verify, device, text, NOW, challenge).ok


@pytest.mark.benchmark(group="passkey_verify")
def test_passkey_py_webauthn_from_json(benchmark, signed):
    _, device, challenge, assertion, _ = signed
    secret = passkey_of(device)
    text = json.dumps(assertion)

    def verify():
        return verify_authentication_response(
            credential=text,
            expected_challenge=challenge.private.challenge,
            expected_rp_id=CONFIG.rp_id,
            expected_origin=list(CONFIG.origins),
            credential_public_key=secret.public_key,
            credential_current_sign_count=0,
            require_user_verification=True,
        )

    assert benchmark(verify).user_verified


@pytest.mark.benchmark(group="passkey_verify")
def test_passkey_floor_bare_ecdsa(benchmark, signed):
    _, _, _, assertion, authenticator = signed
    (credential,) = authenticator.credentials.values()
    public = credential.key.public_key()
    answer = assertion["response"]
    signed_data = (
        from_b64u(answer["authenticatorData"])
        + hashlib.sha256(from_b64u(answer["clientDataJSON"])).digest()
    )
    signature = from_b64u(answer["signature"])
    benchmark(public.verify, signature, signed_data, ec.ECDSA(hashes.SHA256()))


@pytest.mark.benchmark(group="passkey_verify")
def test_passkey_challenge_options(benchmark, signed):
    factor, device, _, _, _ = signed
    assert benchmark(factor.issue_challenge, [device], NOW).options
