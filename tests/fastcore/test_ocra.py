"""OCRA suite grammar and data-input rules beyond the published vectors."""

import hashlib
import hmac

import pytest

VALID = [
    ("OCRA-1:HOTP-SHA1-6:QN08", dict(algorithm="sha1", digits=6, challenge_format="N")),
    ("OCRA-1:HOTP-SHA256-10:C-QA64-PSHA512-S512-T59S", dict(time_step=59, session_length=512)),
    ("OCRA-1:HOTP-SHA512-4:QH04-T56M", dict(time_step=56 * 60, challenge_length=4)),
    ("OCRA-1:HOTP-SHA1-0:QN10-T48H", dict(digits=0, time_step=48 * 3600)),
    ("OCRA-1:HOTP-SHA1-8:C-QN08-PSHA256", dict(counter=True, pin_algorithm="sha256")),
    ("OCRA-1:HOTP-SHA1-6:QA08-S064", dict(session_length=64, pin_algorithm=None)),
]

INVALID = [
    "",
    "OCRA-2:HOTP-SHA1-6:QN08",
    "OCRA-1:HOTP-SHA1-6",
    "OCRA-1:HOTP-MD5-6:QN08",
    "OCRA-1:HOTP-SHA1-3:QN08",
    "OCRA-1:HOTP-SHA1-11:QN08",
    "OCRA-1:HOTP-SHA1-06:QN08",
    "OCRA-1:HOTP-SHA1-6:QN03",
    "OCRA-1:HOTP-SHA1-6:QN65",
    "OCRA-1:HOTP-SHA1-6:QX08",
    "OCRA-1:HOTP-SHA1-6:QN8",
    "OCRA-1:HOTP-SHA1-6:C",
    "OCRA-1:HOTP-SHA1-6:QN08-C",
    "OCRA-1:HOTP-SHA1-6:C-C-QN08",
    "OCRA-1:HOTP-SHA1-6:QN08-T1M-PSHA1",
    "OCRA-1:HOTP-SHA1-6:QN08-PMD5",
    "OCRA-1:HOTP-SHA1-6:QN08-S100",
    "OCRA-1:HOTP-SHA1-6:QN08-T60S",
    "OCRA-1:HOTP-SHA1-6:QN08-T57M",
    "OCRA-1:HOTP-SHA1-6:QN08-T49H",
    "OCRA-1:HOTP-SHA1-6:QN08-T0H",
    "OCRA-1:HOTP-SHA1-6:QN08-T01M",
    "OCRA-1:HOTP-SHA1-6:QN08--T1M",
    "ocra-1:hotp-sha1-6:qn08",
    "OCRA-1:HOTP-SHA1-6:QN08\u0663",
    "OCRA-1:HOTP-SHA1-6:QN08" + "-T1M" * 40,
]


@pytest.mark.parametrize(("suite", "fields"), VALID)
def test_valid_suites_parse(core, suite, fields):
    parsed = core.OcraSuite(suite)
    assert parsed.suite == suite
    for name, value in fields.items():
        assert getattr(parsed, name) == value


@pytest.mark.parametrize("suite", INVALID)
def test_invalid_suites_are_refused(core, suite):
    with pytest.raises(ValueError):
        core.OcraSuite(suite)


def test_suite_must_be_a_string(core):
    with pytest.raises(TypeError):
        core.OcraSuite(b"OCRA-1:HOTP-SHA1-6:QN08")


def reference_ocra(suite, secret, message, digits, digestmod):
    digest = hmac.new(secret, suite.encode() + b"\0" + message, digestmod).digest()
    offset = digest[-1] & 0x0F
    value = int.from_bytes(digest[offset : offset + 4], "big") & 0x7FFFFFFF
    return str(value % 10**digits).zfill(digits) if digits else str(value)


def test_data_input_layout_with_every_field(core):
    # Counter | question | PIN hash | session | time, as RFC 6287 section 5.1 lays out.
    suite = "OCRA-1:HOTP-SHA256-8:C-QH10-PSHA1-S064-T30S"
    secret = b"k" * 32
    message = (
        (5).to_bytes(8, "big")
        + bytes.fromhex("abc0").ljust(128, b"\0")
        + hashlib.sha1(b"1234").digest()
        + b"sess".rjust(64, b"\0")
        + (1_200_000_000 // 30).to_bytes(8, "big")
    )
    expected = reference_ocra(suite, secret, message, 8, hashlib.sha256)
    key = core.HmacKey(secret, "sha256")
    got = core.ocra(
        suite, key, "abc", counter=5, pin="1234", session=b"sess", timestamp=1_200_000_000
    )
    assert got == expected


def test_numeric_challenge_is_hex_of_the_number_padded_right(core):
    suite = "OCRA-1:HOTP-SHA1-6:QN10"
    question = bytes.fromhex("12345" + "0").ljust(128, b"\0")  # 74565 = 0x12345
    expected = reference_ocra(suite, b"s" * 20, question, 6, hashlib.sha1)
    assert core.ocra(suite, core.HmacKey(b"s" * 20), "74565") == expected


def test_no_truncation_suite_gives_the_31_bit_value(core):
    suite = "OCRA-1:HOTP-SHA1-0:QA08"
    question = b"hello".ljust(128, b"\0")
    expected = reference_ocra(suite, b"s" * 20, question, 0, hashlib.sha1)
    response = core.ocra(suite, core.HmacKey(b"s" * 20), "hello")
    assert response == expected
    assert core.ocra_verify(suite, core.HmacKey(b"s" * 20), response, "hello")


@pytest.mark.parametrize(
    ("suite", "inputs"),
    [
        ("OCRA-1:HOTP-SHA1-6:C-QN08", {}),
        ("OCRA-1:HOTP-SHA1-6:QN08", {"counter": 1}),
        ("OCRA-1:HOTP-SHA1-6:QN08-PSHA1", {}),
        ("OCRA-1:HOTP-SHA1-6:QN08", {"pin": "1234"}),
        ("OCRA-1:HOTP-SHA1-6:QN08-PSHA1", {"pin": ""}),
        ("OCRA-1:HOTP-SHA1-6:QN08-S064", {}),
        ("OCRA-1:HOTP-SHA1-6:QN08-S064", {"session": b"x" * 65}),
        ("OCRA-1:HOTP-SHA1-6:QN08", {"session": b"x"}),
        ("OCRA-1:HOTP-SHA1-6:QN08-T1M", {}),
        ("OCRA-1:HOTP-SHA1-6:QN08-T1M", {"timestamp": -1}),
        ("OCRA-1:HOTP-SHA1-6:QN08", {"timestamp": 100}),
        ("OCRA-1:HOTP-SHA1-6:C-QN08", {"counter": -1}),
        ("OCRA-1:HOTP-SHA1-6:C-QN08", {"counter": 2**64}),
    ],
)
def test_missing_or_unexpected_inputs_are_refused(core, suite, inputs):
    with pytest.raises(ValueError):
        core.ocra(suite, core.HmacKey(b"s" * 20), "12345678", **inputs)


@pytest.mark.parametrize(
    ("kind", "challenge"),
    [
        ("N", "12a4"),
        ("N", " 1234"),
        ("H", "12g4"),
        ("A", "ab-c"),
        ("A", "ab c"),
        ("N", ""),
        ("A", "a" * 129),
        ("H", "f" * 257),
        ("N", "9" * 257),
        ("N", "\u0661\u0662\u0663\u0664"),
    ],
)
def test_bad_challenges_are_refused(core, kind, challenge):
    with pytest.raises(ValueError):
        core.ocra(f"OCRA-1:HOTP-SHA1-6:Q{kind}08", core.HmacKey(b"s" * 20), challenge)


def test_key_algorithm_must_match_suite(core):
    with pytest.raises(ValueError):
        core.ocra("OCRA-1:HOTP-SHA256-6:QN08", core.HmacKey(b"s" * 20, "sha1"), "1234")


@pytest.mark.parametrize("response", ["12345", "1234567", "12 456", "12345a", "", "١٢٣٤٥٦"])
def test_malformed_responses_are_refused(core, response):
    with pytest.raises(ValueError):
        core.ocra_verify("OCRA-1:HOTP-SHA1-6:QN08", core.HmacKey(b"s" * 20), response, "1234")
