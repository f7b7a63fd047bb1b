"""Bad input raises ValueError or TypeError with a message: never a crash."""

import pytest

MEGABYTE = 1 << 20


@pytest.mark.parametrize(
    ("secret", "algorithm", "error"),
    [
        (b"", "sha1", ValueError),
        ("text", "sha1", TypeError),
        (None, "sha1", TypeError),
        (b"k", "md5", ValueError),
        (b"k", "SHA1", ValueError),
        (b"k", 1, TypeError),
    ],
)
def test_bad_hmac_keys(core, secret, algorithm, error):
    with pytest.raises(error, match=r"\w"):
        core.HmacKey(secret, algorithm)


def test_megabyte_secret_is_hashed_like_hmac_does(core):
    import hashlib
    import hmac

    secret = b"x" * MEGABYTE
    key = core.HmacKey(secret, "sha256")
    assert key.digest(b"m") == hmac.new(secret, b"m", hashlib.sha256).digest()
    assert key.digest(b"m" * MEGABYTE) == hmac.new(secret, b"m" * MEGABYTE, hashlib.sha256).digest()


def test_key_does_not_reveal_its_secret(core):
    import pickle

    key = core.HmacKey(b"very secret")
    assert "secret" not in repr(key).replace("HmacKey", "")
    with pytest.raises(TypeError):
        pickle.dumps(key)


@pytest.mark.parametrize(
    ("counter", "digits", "error"),
    [
        (-1, 6, ValueError),
        (2**64, 6, ValueError),
        (1.0, 6, TypeError),
        ("1", 6, TypeError),
        (True, 6, TypeError),
        (1, 3, ValueError),
        (1, 11, ValueError),
        (1, 10**30, ValueError),
        (1, None, TypeError),
    ],
)
def test_bad_hotp_arguments(core, counter, digits, error):
    with pytest.raises(error, match=r"\w"):
        core.hotp(core.HmacKey(b"k"), counter, digits)


def test_hotp_needs_a_key_object(core):
    with pytest.raises(TypeError):
        core.hotp(b"raw secret", 1)


@pytest.mark.parametrize(
    "code",
    ["12345", "1234567", "12 456", " 123456", "12345a", "١٢٣٤٥٦", "", "1" * MEGABYTE],
)
def test_malformed_totp_codes_raise_value_error(core, code):
    with pytest.raises(ValueError):
        core.totp_verify(core.HmacKey(b"k"), code, 1_700_000_000)


@pytest.mark.parametrize("code", [123456, None, ["123456"]])
def test_totp_code_of_wrong_type(core, code):
    with pytest.raises(TypeError):
        core.totp_verify(core.HmacKey(b"k"), code, 1_700_000_000)


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"unix_time": -1}, ValueError),
        ({"unix_time": float("nan")}, ValueError),
        ({"unix_time": float("inf")}, ValueError),
        ({"unix_time": 2**63}, ValueError),
        ({"unix_time": "now"}, TypeError),
        ({"step": 0}, ValueError),
        ({"t0": 2_000_000_000}, ValueError),
        ({"window": -1}, ValueError),
        ({"window": 10**6}, ValueError),
        ({"after_counter": -2}, ValueError),
        ({"digits": 12}, ValueError),
    ],
)
def test_bad_totp_arguments(core, kwargs, error):
    arguments = {"unix_time": 1_700_000_000, **kwargs}
    code = "1" * arguments.get("digits", 6) if arguments.get("digits", 6) <= 10 else "123456"
    with pytest.raises(error):
        core.totp_verify(core.HmacKey(b"k"), code, **arguments)


def test_megabyte_inputs_to_ocra(core):
    key = core.HmacKey(b"k")
    with pytest.raises(ValueError):
        core.ocra("OCRA-1:HOTP-SHA1-6:QN08", key, "1" * MEGABYTE)
    with pytest.raises(ValueError):
        core.OcraSuite("OCRA-1:HOTP-SHA1-6:QN08" + "-" * MEGABYTE)
    # A megabyte PIN is hashed, not refused: the suite only sees its digest.
    pin_suite = "OCRA-1:HOTP-SHA1-6:QN08-PSHA1"
    assert len(core.ocra(pin_suite, key, "1234", pin="9" * MEGABYTE)) == 6


@pytest.mark.parametrize(("a", "b"), [("a", b"a"), (1, 1), (None, None), ("a", None)])
def test_ct_equal_type_errors(core, a, b):
    with pytest.raises(TypeError):
        core.ct_equal(a, b)


def test_ct_equal_megabyte_inputs(core):
    a = b"z" * MEGABYTE
    assert core.ct_equal(a, bytes(a))
    assert not core.ct_equal(a, a[:-1] + b"y")
    assert not core.ct_equal(a, a + b"z")
    assert core.ct_equal("é" * MEGABYTE, "é" * MEGABYTE)
