"""RFC 4226 Appendix D, RFC 6238 Appendix B and RFC 6287 Appendix C."""

import pytest

from tests.fastcore.vectors import rows

HOTP = rows("hotp_rfc4226.tsv")
TOTP = rows("totp_rfc6238.tsv")
OCRA = rows("ocra_rfc6287.tsv")
RFC4226_SECRET = b"12345678901234567890"


def test_tables_are_complete():
    assert len(HOTP) == 10
    assert len(TOTP) == 18
    assert {row["role"] for row in OCRA} == {"one-way", "server", "client", "signature"}


@pytest.mark.parametrize("row", HOTP, ids=lambda r: r["counter"])
def test_hotp_rfc4226(core, row):
    key = core.HmacKey(RFC4226_SECRET)
    assert key.digest(int(row["counter"]).to_bytes(8, "big")).hex() == row["hmac_sha1_hex"]
    assert core.hotp(key, int(row["counter"])) == row["hotp6"]


@pytest.mark.parametrize("row", TOTP, ids=lambda r: f"{r['algo']}-{r['unix_time']}")
def test_totp_rfc6238(core, row):
    key = core.HmacKey(bytes.fromhex(row["key_hex"]), row["algo"].lower())
    step = int(row["T_hex"], 16)
    unix_time = int(row["unix_time"])
    assert core.totp_verify(key, row["totp8"], unix_time, digits=8, window=0) == step
    assert core.hotp(key, step, digits=8) == row["totp8"]


def ocra_inputs(core, row):
    suite = core.OcraSuite(row["suite"])
    key = core.HmacKey(bytes.fromhex(row["key_hex"]), suite.algorithm)
    inputs = {}
    if row["C"]:
        inputs["counter"] = int(row["C"])
    if row["pin"]:
        inputs["pin"] = row["pin"]
    if row["T_hex"]:
        inputs["timestamp"] = int(row["T_hex"], 16) * suite.time_step
    return suite, key, inputs


@pytest.mark.parametrize(
    "row", OCRA, ids=lambda r: f"{r['section']}-{r['role']}-{r['suite']}-{r['Q']}-{r['C']}"
)
def test_ocra_rfc6287(core, row):
    suite, key, inputs = ocra_inputs(core, row)
    assert core.ocra(suite, key, row["Q"], **inputs) == row["response"]
    assert core.ocra(row["suite"], key, row["Q"], **inputs) == row["response"]
    assert core.ocra_verify(suite, key, row["response"], row["Q"], **inputs)


@pytest.mark.parametrize("row", OCRA[:12], ids=lambda r: f"{r['suite']}-{r['Q']}")
def test_ocra_verify_refuses_other_responses(core, row):
    suite, key, inputs = ocra_inputs(core, row)
    wrong = str((int(row["response"]) + 1) % 10 ** len(row["response"])).zfill(len(row["response"]))
    assert not core.ocra_verify(suite, key, wrong, row["Q"], **inputs)
