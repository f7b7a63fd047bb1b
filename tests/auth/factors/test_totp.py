"""RFC 6238 through _fastcore: +-1 step, used steps never again, malformed
codes are plain failures."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest

import _fastcore
from gateway.auth.factors import FAILED, default_factors
from gateway.auth.factors.totp import (
    Authenticator,
    code_at,
    new_secret,
    otpauth_uri,
    secret_from_base32,
    secret_to_base32,
)
from gateway.config import TotpConfig
from gateway.store.base import Device

RFC_SECRET = b"12345678901234567890"
NOW = 1_700_000_000.0
STEP = int(NOW) // 30


def device(secret: bytes = RFC_SECRET, counter: int = -1) -> Device:
    return Device("d1", "alice", "totp", None, secret, counter, 0.0)


def code_for_step(step: int, secret: bytes = RFC_SECRET) -> str:
    return _fastcore.hotp(_fastcore.HmacKey(secret), step)


def test_rfc_6238_vector() -> None:
    # RFC 6238 appendix B, SHA-1, T = 59 s: 94287082 (8 digits).
    factor = Authenticator(TotpConfig(digits=8))
    result = factor.verify(device(), "94287082", 59, None)
    assert result.ok and result.counter == 1
    assert code_at(RFC_SECRET, 59, TotpConfig(digits=8)) == "94287082"


def test_current_code_is_accepted_and_names_its_step() -> None:
    result = Authenticator().verify(device(), code_for_step(STEP), NOW, None)
    assert result.ok and result.counter == STEP


@pytest.mark.parametrize("offset", [-1, 1])
def test_one_step_either_side_is_accepted(offset: int) -> None:
    result = Authenticator().verify(device(), code_for_step(STEP + offset), NOW, None)
    assert result.ok and result.counter == STEP + offset


@pytest.mark.parametrize("offset", [-2, 2])
def test_two_steps_away_is_refused(offset: int) -> None:
    assert Authenticator().verify(device(), code_for_step(STEP + offset), NOW, None) == FAILED


def test_a_used_step_is_never_accepted_again() -> None:
    used = device(counter=STEP)
    assert Authenticator().verify(used, code_for_step(STEP), NOW, None) == FAILED
    assert Authenticator().verify(used, code_for_step(STEP - 1), NOW, None) == FAILED
    assert Authenticator().verify(used, code_for_step(STEP + 1), NOW, None).ok


@pytest.mark.parametrize(
    "response",
    ["", "12345", "1234567", "123 456", " 123456", "123456 ", "abcdef", "12345a", "١٢٣٤٥٦"],
)
def test_malformed_codes_fail_without_raising(response: str) -> None:
    assert Authenticator().verify(device(), response, NOW, None) == FAILED


def test_without_a_device_nothing_verifies() -> None:
    assert Authenticator().verify(None, code_for_step(STEP), NOW, None) == FAILED


def test_wrong_secret_fails() -> None:
    other = device(secret=b"another secret of 20b")
    assert Authenticator().verify(other, code_for_step(STEP), NOW, None) == FAILED


def test_totp_needs_no_challenge_and_grants_the_totp_tier() -> None:
    factor = Authenticator()
    assert factor.issue_challenge([device()], NOW).public() == {}
    assert factor.tier.daily_limit == 1_000_000
    assert default_factors()["totp"].method == "totp"


def test_base32_round_trip_and_pasted_forms() -> None:
    secret = new_secret()
    assert len(secret) == 20
    text = secret_to_base32(secret)
    assert "=" not in text
    assert secret_from_base32(text) == secret
    spaced = " ".join(text[i : i + 4] for i in range(0, len(text), 4)).lower()
    assert secret_from_base32(spaced) == secret
    with pytest.raises(ValueError):
        secret_from_base32("not base32!")


def test_otpauth_uri_carries_what_apps_need() -> None:
    config = TotpConfig(issuer="Login Gateway")
    uri = otpauth_uri(RFC_SECRET, "alice", config)
    parts = urlsplit(uri)
    assert (parts.scheme, parts.netloc) == ("otpauth", "totp")
    assert parts.path == "/Login%20Gateway:alice"
    query = parse_qs(parts.query)
    assert query["secret"] == [secret_to_base32(RFC_SECRET)]
    assert query["issuer"] == ["Login Gateway"]
    assert query["algorithm"] == ["SHA1"]
    assert query["digits"] == ["6"]
    assert query["period"] == ["30"]


def test_code_at_is_what_the_verifier_accepts() -> None:
    assert Authenticator().verify(device(), code_at(RFC_SECRET, NOW), NOW, None).ok
