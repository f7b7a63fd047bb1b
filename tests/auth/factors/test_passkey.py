"""The ``passkey`` factor alone, with the software authenticator: what the
options ask for, and the sign-counter rule (a clone's stale counter is an
alarm, a counter-less passkey is fine, a counter never goes back to 0)."""

from __future__ import annotations

import dataclasses
import json

import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from gateway.auth.factors.passkey import (
    SIGN_COUNT_ALARM,
    Passkey,
    creation_options,
    registered,
    seal_form,
)
from gateway.config import PasskeyConfig
from gateway.errors import BadRequest
from gateway.simulators import SoftAuthenticator
from gateway.store.base import Device

CONFIG = PasskeyConfig(rp_id="example.com", origins=["https://login.example.com"])
ORIGIN = "https://login.example.com"
NOW = 1_700_000_000.0


def enrol(authenticator: SoftAuthenticator, counter: int = 0) -> Device:
    options, ceremony = creation_options(CONFIG, b"handle", "alice", [], NOW)
    credential = json.dumps(authenticator.create(options, ORIGIN))
    secret, first_count = registered(CONFIG, credential, ceremony, b"handle")
    assert first_count == 0
    return Device("d1", "alice", "passkey", "key", seal_form(secret), counter, NOW)


def answer(factor: Passkey, device: Device, authenticator: SoftAuthenticator, now: float = NOW):
    challenge = factor.issue_challenge([device], now)
    assertion = json.dumps(authenticator.get(dict(challenge.options or {}), ORIGIN))
    return factor.verify(device, assertion, now, challenge)


def test_a_good_assertion_carries_its_counter_for_the_flow_to_claim() -> None:
    authenticator = SoftAuthenticator()
    device = enrol(authenticator)
    result = answer(Passkey(CONFIG), device, authenticator)
    assert result.ok and result.counter == 1 and result.alarm is None


def test_a_stale_counter_with_a_good_signature_is_an_alarm() -> None:
    authenticator = SoftAuthenticator()
    device = enrol(authenticator)
    clone = authenticator.clone()
    factor = Passkey(CONFIG)
    assert answer(factor, device, authenticator).counter == 1
    used = dataclasses.replace(device, counter=1)  # the flow claimed 1
    result = answer(factor, used, clone)  # the clone says 1 again
    assert not result.ok and result.alarm == SIGN_COUNT_ALARM


def test_a_counter_going_back_to_zero_is_refused_too() -> None:
    synced = SoftAuthenticator(synced=True)
    device = enrol(synced, counter=5)  # it once said 5
    result = answer(Passkey(CONFIG), device, synced)
    assert not result.ok and result.alarm == SIGN_COUNT_ALARM


def test_a_passkey_without_a_counter_is_accepted_and_claims_nothing() -> None:
    synced = SoftAuthenticator(synced=True)
    device = enrol(synced)
    for _ in range(3):
        result = answer(Passkey(CONFIG), device, synced)
        assert result.ok and result.counter is None


def test_the_challenge_is_good_for_the_timeout_only() -> None:
    authenticator = SoftAuthenticator()
    device = enrol(authenticator)
    factor = Passkey(CONFIG)
    challenge = factor.issue_challenge([device], NOW)
    assertion = json.dumps(authenticator.get(dict(challenge.options or {}), ORIGIN))
    late = NOW + CONFIG.timeout_seconds
    assert not factor.verify(device, assertion, late, challenge).ok
    assert not factor.verify(device, assertion, NOW, None).ok


def test_a_forged_signature_is_a_plain_failure_without_alarm() -> None:
    authenticator = SoftAuthenticator()
    device = enrol(authenticator, counter=9)
    factor = Passkey(CONFIG)
    challenge = factor.issue_challenge([device], NOW)
    # Same credential id, another key (and a low counter): not a clone, a forgery.
    impostor = authenticator.clone()
    for credential in impostor.credentials.values():
        credential.key = ec.generate_private_key(ec.SECP256R1())
    assertion = json.dumps(impostor.get(dict(challenge.options or {}), ORIGIN))
    result = factor.verify(device, assertion, NOW, challenge)
    assert not result.ok and result.alarm is None


@pytest.mark.parametrize(
    "credential",
    ["", "{}", "[]", '{"rawId": "AA", "response": {"clientDataJSON": 1}}', "[" * 5000],
)
def test_registration_garbage_is_a_bad_request(credential: str) -> None:
    _, ceremony = creation_options(CONFIG, b"handle", "alice", [], NOW)
    with pytest.raises(BadRequest):
        registered(CONFIG, credential, ceremony, b"handle")


def test_request_options_name_the_users_passkeys_and_require_verification() -> None:
    authenticator = SoftAuthenticator()
    device = enrol(authenticator)
    options = Passkey(CONFIG).issue_challenge([device], NOW).options or {}
    assert options["rpId"] == "example.com" and options["userVerification"] == "required"
    assert [c["type"] for c in options["allowCredentials"]] == ["public-key"]
    assert options["timeout"] == 120_000
