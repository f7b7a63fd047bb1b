"""Compiled and pure compared on random inputs: same answers, same error types."""

import math

from hypothesis import assume, given
from hypothesis import strategies as st

from _fastcore import compiled, pure

ALGORITHMS = st.sampled_from(["sha1", "sha256", "sha512"])
SECRETS = st.binary(min_size=1, max_size=200)
DIGITS = st.integers(min_value=4, max_value=10)
COUNTERS = st.integers(min_value=0, max_value=2**64 - 1)


def both(function_name, *args, **kwargs):
    """Call the function in both implementations; compare results or error types."""
    outcomes = []
    for module in (compiled, pure):
        try:
            outcomes.append(("ok", getattr(module, function_name)(*args, **kwargs)))
        except (ValueError, TypeError) as exc:
            outcomes.append(("error", type(exc)))
    assert outcomes[0] == outcomes[1], (function_name, args, kwargs, outcomes)
    return outcomes[0]


def keys(secret, algorithm):
    return compiled.HmacKey(secret, algorithm), pure.HmacKey(secret, algorithm)


@given(SECRETS, ALGORITHMS, st.binary(max_size=300))
def test_hmac_digest(secret, algorithm, message):
    fast, slow = keys(secret, algorithm)
    assert fast.digest(message) == slow.digest(message)
    assert fast.digest_size == slow.digest_size


@given(SECRETS, ALGORITHMS, COUNTERS, DIGITS)
def test_hotp(secret, algorithm, counter, digits):
    fast, slow = keys(secret, algorithm)
    code = compiled.hotp(fast, counter, digits)
    assert code == pure.hotp(slow, counter, digits)
    assert len(code) == digits and code.isdigit()


@given(
    SECRETS,
    ALGORITHMS,
    st.integers(min_value=0, max_value=2**40) | st.floats(min_value=0, max_value=2**40),
    st.integers(min_value=1, max_value=120),
    st.integers(min_value=0, max_value=2**20),
    st.integers(min_value=6, max_value=8),
    st.integers(min_value=0, max_value=3),
    st.integers(min_value=-1, max_value=2**36),
    st.integers(min_value=-4, max_value=4),
)
def test_totp_verify_codes_near_now(
    secret, algorithm, unix_time, step, t0, digits, window, after_counter, offset
):
    assume(unix_time >= t0)
    fast, slow = keys(secret, algorithm)
    target = int((math.floor(unix_time) - t0) // step) + offset
    assume(target >= 0)
    code = pure.hotp(slow, target, digits)
    args = (code, unix_time, step, t0, digits, window, after_counter)
    result = compiled.totp_verify(fast, *args)
    assert result == pure.totp_verify(slow, *args)
    if abs(offset) <= window and target > after_counter:
        assert result >= target
    else:
        assert result != target
    assert result == -1 or result > after_counter


@given(SECRETS, st.text(max_size=12), st.integers(min_value=0, max_value=2**33))
def test_totp_verify_arbitrary_codes(secret, code, unix_time):
    fast, slow = keys(secret, "sha1")
    outcome_fast = _outcome(compiled.totp_verify, fast, code, unix_time)
    outcome_slow = _outcome(pure.totp_verify, slow, code, unix_time)
    assert outcome_fast == outcome_slow


@given(st.integers(min_value=0, max_value=999999), st.integers(min_value=0, max_value=2**33))
def test_totp_leading_zero_codes(value, unix_time):
    fast, slow = keys(b"leading zeros", "sha1")
    code = str(value).zfill(6)
    assert compiled.totp_verify(fast, code, unix_time) == pure.totp_verify(slow, code, unix_time)


def _outcome(function, *args, **kwargs):
    try:
        return ("ok", function(*args, **kwargs))
    except (ValueError, TypeError) as exc:
        return ("error", type(exc))


@given(SECRETS, st.integers(min_value=0, max_value=50), COUNTERS, DIGITS)
def test_hotp_loop(secret, n, counter, digits):
    assume(counter + n <= 2**64)
    fast, slow = keys(secret, "sha1")
    assert compiled.hotp_loop(fast, n, counter, digits) == pure.hotp_loop(slow, n, counter, digits)


TEXTS = st.text(max_size=40) | st.binary(max_size=40)


@given(TEXTS, TEXTS)
def test_ct_equal(a, b):
    outcome = both("ct_equal", a, b)
    if outcome[0] == "ok":
        assert outcome[1] == (a == b)


@given(st.text(max_size=40))
def test_ct_equal_with_itself(a):
    assert compiled.ct_equal(a, a) and pure.ct_equal(a, a)
    assert compiled.ct_equal(a.encode(), bytearray(a.encode()))


# --- OCRA ------------------------------------------------------------------


@st.composite
def suites(draw):
    algorithm = draw(st.sampled_from(["SHA1", "SHA256", "SHA512"]))
    digits = draw(st.sampled_from([0, 4, 5, 6, 7, 8, 9, 10]))
    items = []
    if draw(st.booleans()):
        items.append("C")
    items.append(f"Q{draw(st.sampled_from('ANH'))}{draw(st.integers(4, 64)):02d}")
    if draw(st.booleans()):
        items.append(f"PSHA{draw(st.sampled_from(['1', '256', '512']))}")
    if draw(st.booleans()):
        items.append(f"S{draw(st.sampled_from(['064', '128', '256', '512']))}")
    if draw(st.booleans()):
        unit = draw(st.sampled_from("SMH"))
        top = {"S": 59, "M": 56, "H": 48}[unit]
        items.append(f"T{draw(st.integers(1, top))}{unit}")
    return f"OCRA-1:HOTP-{algorithm}-{digits}:{'-'.join(items)}"


def challenges(kind):
    alphabet = {"A": "abcXYZ0123456789", "N": "0123456789", "H": "0123456789abcdefABCDEF"}[kind]
    return st.text(alphabet=alphabet, min_size=1, max_size=64)


@given(suites(), st.data())
def test_ocra_every_suite_option(suite_string, data):
    fast_suite, slow_suite = compiled.OcraSuite(suite_string), pure.OcraSuite(suite_string)
    for field in (
        "algorithm",
        "digits",
        "counter",
        "challenge_format",
        "challenge_length",
        "pin_algorithm",
        "session_length",
        "time_step",
    ):
        assert getattr(fast_suite, field) == getattr(slow_suite, field), field
    fast, slow = keys(data.draw(SECRETS), slow_suite.algorithm)
    inputs = {}
    if slow_suite.counter:
        inputs["counter"] = data.draw(COUNTERS)
    if slow_suite.pin_algorithm:
        inputs["pin"] = data.draw(st.text(min_size=1, max_size=8) | st.binary(min_size=1))
    if slow_suite.session_length:
        inputs["session"] = data.draw(st.binary(max_size=slow_suite.session_length))
    if slow_suite.time_step:
        inputs["timestamp"] = data.draw(st.integers(0, 2**40) | st.floats(0, 2**40))
    challenge = data.draw(challenges(slow_suite.challenge_format))
    response = compiled.ocra(fast_suite, fast, challenge, **inputs)
    assert response == pure.ocra(slow_suite, slow, challenge, **inputs)
    if slow_suite.digits:
        assert len(response) == slow_suite.digits
    assert compiled.ocra_verify(fast_suite, fast, response, challenge, **inputs)
    assert pure.ocra_verify(slow_suite, slow, response, challenge, **inputs)


@given(st.sampled_from("ANH"), st.text(max_size=300))
def test_ocra_arbitrary_challenges(kind, challenge):
    suite = f"OCRA-1:HOTP-SHA1-6:Q{kind}10"
    fast, slow = keys(b"challenge", "sha1")
    assert _outcome(compiled.ocra, suite, fast, challenge) == _outcome(
        pure.ocra, suite, slow, challenge
    )


@given(st.text(alphabet="0123456789", min_size=1, max_size=256))
def test_ocra_long_numeric_challenges(challenge):
    suite = "OCRA-1:HOTP-SHA256-8:QN64"
    fast, slow = keys(b"numbers", "sha256")
    assert compiled.ocra(suite, fast, challenge) == pure.ocra(suite, slow, challenge)


SUITE_ALPHABET = "OCRA-1:HOTPSHA256QNHPST0123456789MH"


@given(suites(), st.integers(0, 40), st.text(alphabet=SUITE_ALPHABET, max_size=4))
def test_suite_parsers_agree_on_mutations(suite_string, position, insert):
    position = min(position, len(suite_string))
    mutated = suite_string[:position] + insert + suite_string[position + len(insert) :]
    fast = _outcome(compiled.OcraSuite, mutated)
    slow = _outcome(pure.OcraSuite, mutated)
    assert fast[0] == slow[0], mutated
    if fast[0] == "ok":
        assert fast[1].digits == slow[1].digits
        assert fast[1].time_step == slow[1].time_step


@given(st.text(max_size=60))
def test_suite_parsers_agree_on_noise(text):
    assert _outcome(compiled.OcraSuite, text)[0] == _outcome(pure.OcraSuite, text)[0]


# --- Token buckets ---------------------------------------------------------

OPERATIONS = st.lists(
    st.tuples(
        st.sampled_from(["take", "retry_after"]),
        st.integers(0, 6),
        st.floats(min_value=-5, max_value=100, allow_nan=False),
        st.sampled_from([0, 0.5, 1, 1, 1, 2, 3.5, 20]),
    ),
    max_size=80,
)


@given(
    st.floats(min_value=0, max_value=10),
    st.floats(min_value=0.5, max_value=8),
    st.integers(1, 5),
    OPERATIONS,
)
def test_token_buckets(rate, burst, max_keys, operations):
    fast = compiled.TokenBuckets(rate, burst, max_keys)
    slow = pure.TokenBuckets(rate, burst, max_keys)
    now = 0.0
    for operation, key, delta, cost in operations:
        now += delta
        a = getattr(fast, operation)(key, now, cost)
        b = getattr(slow, operation)(key, now, cost)
        assert a == b or math.isclose(a, b, rel_tol=1e-9), (operation, key, now, cost)
        assert len(fast) == len(slow) <= max_keys
        assert (key in fast) == (key in slow)
