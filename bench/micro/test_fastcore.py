"""Microbenchmarks of the core: compiled vs pure vs pyotp vs the stdlib.

Run: python -m bench.micro   (pytest-benchmark, then the summary table)
"""

import hashlib
import hmac

import pyotp
import pytest

from _fastcore import compiled, pure

SECRET = b"12345678901234567890"
B32 = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"  # the same 20 bytes, base32
NOW = 1_700_000_000
FLOOR_N = 200_000
IMPLEMENTATIONS = [compiled, pure]
IDS = ["compiled", "pure"]


def stdlib_hotp(secret, counter, digits=6):
    digest = hmac.digest(secret, counter.to_bytes(8, "big"), "sha1")
    offset = digest[-1] & 0x0F
    value = int.from_bytes(digest[offset : offset + 4], "big") & 0x7FFFFFFF
    return str(value % 10**digits).zfill(digits)


# --- hotp --------------------------------------------------------------------


@pytest.mark.benchmark(group="hotp")
@pytest.mark.parametrize("core", IMPLEMENTATIONS, ids=IDS)
def test_hotp(benchmark, core):
    key = core.HmacKey(SECRET)
    assert benchmark(core.hotp, key, 123456) == stdlib_hotp(SECRET, 123456)


@pytest.mark.benchmark(group="hotp")
def test_hotp_pyotp(benchmark):
    hotp = pyotp.HOTP(B32)
    assert benchmark(hotp.at, 123456) == stdlib_hotp(SECRET, 123456)


@pytest.mark.benchmark(group="hotp")
def test_hotp_stdlib_hmac(benchmark):
    assert len(benchmark(stdlib_hotp, SECRET, 123456)) == 6


@pytest.mark.benchmark(group="hmac-floor")
def test_floor_nogil_loop(benchmark):
    """FLOOR_N HOTP computations on precomputed states with no Python between them."""
    key = compiled.HmacKey(SECRET)
    benchmark.extra_info["per_call_divisor"] = FLOOR_N
    assert benchmark(compiled.hotp_loop, key, FLOOR_N) > 0


# --- totp_verify -------------------------------------------------------------
# Called BATCH times from a local loop with keyword arguments, as the gateway
# calls it: the harness's own per-call overhead (argument unpacking) would
# otherwise be as large as the compiled call.

BATCH = 1000
CODE = stdlib_hotp(SECRET, NOW // 30)


@pytest.mark.parametrize("window", [0, 1])
@pytest.mark.parametrize("core", IMPLEMENTATIONS, ids=IDS)
def test_totp_verify(benchmark, core, window):
    benchmark.group = f"totp_verify-window{window}"
    benchmark.extra_info["per_call_divisor"] = BATCH
    key, totp_verify = core.HmacKey(SECRET), core.totp_verify

    def run():
        for _ in range(BATCH):
            totp_verify(key, CODE, NOW, window=window)

    benchmark(run)
    assert totp_verify(key, CODE, NOW, window=window) == NOW // 30


@pytest.mark.parametrize("window", [0, 1])
def test_totp_verify_pyotp(benchmark, window):
    benchmark.group = f"totp_verify-window{window}"
    benchmark.extra_info["per_call_divisor"] = BATCH
    verify = pyotp.TOTP(B32).verify

    def run():
        for _ in range(BATCH):
            verify(CODE, for_time=NOW, valid_window=window)

    benchmark(run)
    assert verify(CODE, for_time=NOW, valid_window=window) is True


# --- ocra --------------------------------------------------------------------

SUITE = "OCRA-1:HOTP-SHA1-8:QN06-PSHA1"


@pytest.mark.benchmark(group="ocra")
@pytest.mark.parametrize("core", IMPLEMENTATIONS, ids=IDS)
def test_ocra(benchmark, core):
    suite, key = core.OcraSuite(SUITE), core.HmacKey(SECRET)
    expected = pure.ocra(SUITE, pure.HmacKey(SECRET), "123456", pin="1234")
    assert benchmark(core.ocra, suite, key, "123456", pin="1234") == expected


@pytest.mark.benchmark(group="ocra")
def test_ocra_stdlib_hmac(benchmark):
    def stdlib_ocra(challenge, pin):
        question = bytes.fromhex(format(int(challenge), "x").ljust(256, "0"))
        message = SUITE.encode() + b"\0" + question + hashlib.sha1(pin.encode()).digest()
        digest = hmac.digest(SECRET, message, "sha1")
        offset = digest[-1] & 0x0F
        value = int.from_bytes(digest[offset : offset + 4], "big") & 0x7FFFFFFF
        return str(value % 10**8).zfill(8)

    expected = pure.ocra(SUITE, pure.HmacKey(SECRET), "123456", pin="1234")
    assert benchmark(stdlib_ocra, "123456", "1234") == expected


# --- ct_equal ----------------------------------------------------------------

TOKEN_A = "a" * 43
TOKEN_B = "a" * 42 + "b"


@pytest.mark.benchmark(group="ct_equal")
@pytest.mark.parametrize("core", IMPLEMENTATIONS, ids=IDS)
def test_ct_equal(benchmark, core):
    assert benchmark(core.ct_equal, TOKEN_A, TOKEN_B) is False


@pytest.mark.benchmark(group="ct_equal")
def test_ct_equal_stdlib_compare_digest(benchmark):
    assert benchmark(hmac.compare_digest, TOKEN_A, TOKEN_B) is False


# --- TokenBuckets.take -------------------------------------------------------


@pytest.mark.benchmark(group="token_buckets")
@pytest.mark.parametrize("core", IMPLEMENTATIONS, ids=IDS)
def test_token_buckets_take(benchmark, core):
    buckets = core.TokenBuckets(rate=1e9, burst=1e9, max_keys=100_000)
    keys = [f"10.0.{i // 256}.{i % 256}" for i in range(1000)]
    for key in keys:
        buckets.take(key, 0.0)
    take = buckets.take

    def take_many():
        for key in keys:
            take(key, 1.0)

    benchmark.extra_info["per_call_divisor"] = len(keys)
    benchmark(take_many)
    assert len(buckets) == len(keys)


@pytest.mark.benchmark(group="token_buckets")
def test_loop_overhead_baseline(benchmark):
    """The same Python loop calling a no-op method: the cost the loop itself adds."""
    keys = [f"10.0.{i // 256}.{i % 256}" for i in range(1000)]
    noop = {}.get

    def call_many():
        for key in keys:
            noop(key, 1.0)

    benchmark.extra_info["per_call_divisor"] = len(keys)
    benchmark(call_many)
