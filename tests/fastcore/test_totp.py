"""Window and replay semantics of totp_verify and hotp."""

import pytest

SECRET = b"12345678901234567890"
NOW = 1_700_000_000  # step 56666666 at 30 s


@pytest.fixture
def key(core):
    return core.HmacKey(SECRET)


def code_at(core, key, step, digits=6):
    return core.hotp(key, step, digits)


def test_current_step_matches(core, key):
    step = NOW // 30
    assert core.totp_verify(key, code_at(core, key, step), NOW) == step


@pytest.mark.parametrize("offset", [-1, 1])
def test_adjacent_steps_match_with_window_one(core, key, offset):
    step = NOW // 30 + offset
    assert core.totp_verify(key, code_at(core, key, step), NOW, window=1) == step


@pytest.mark.parametrize("offset", [-1, 1])
def test_adjacent_steps_refused_with_window_zero(core, key, offset):
    step = NOW // 30 + offset
    assert core.totp_verify(key, code_at(core, key, step), NOW, window=0) == -1


@pytest.mark.parametrize("offset", [-2, 2])
def test_steps_outside_window_refused(core, key, offset):
    step = NOW // 30 + offset
    assert core.totp_verify(key, code_at(core, key, step), NOW, window=1) == -1


def test_step_at_after_counter_is_not_accepted_again(core, key):
    step = NOW // 30
    code = code_at(core, key, step)
    assert core.totp_verify(key, code, NOW, after_counter=step - 1) == step
    assert core.totp_verify(key, code, NOW, after_counter=step) == -1
    assert core.totp_verify(key, code, NOW, after_counter=step + 1) == -1


def test_earlier_step_refused_after_later_one_was_used(core, key):
    previous = NOW // 30 - 1
    assert core.totp_verify(key, code_at(core, key, previous), NOW, after_counter=NOW // 30) == -1


def test_step_boundaries(core, key):
    step = NOW // 30
    start = step * 30
    code = code_at(core, key, step)
    assert core.totp_verify(key, code, start, window=0) == step
    assert core.totp_verify(key, code, start + 29.999, window=0) == step
    assert core.totp_verify(key, code, start + 30, window=0) == -1
    assert core.totp_verify(key, code, start - 0.001, window=0) == -1


def test_t0_and_step_shift_the_counter(core, key):
    t0, step = 1000, 60
    counter = (NOW - t0) // step
    assert core.totp_verify(key, code_at(core, key, counter), NOW, step=step, t0=t0) == counter


def test_window_at_time_zero_skips_negative_steps(core, key):
    assert core.totp_verify(key, code_at(core, key, 0), 0, window=3) == 0
    assert core.totp_verify(key, code_at(core, key, 1), 0, window=1) == 1


def test_latest_matching_step_is_returned(core):
    # Find two steps in one window with the same 4-digit code; the later one wins.
    key = core.HmacKey(b"collide")
    codes = {}
    for counter in range(100, 100_000):
        code = core.hotp(key, counter, 4)
        if code in codes and counter - codes[code] <= 200:
            first = codes[code]
            break
        codes[code] = counter
    else:
        pytest.fail("no collision found")
    middle = (first + counter) // 2
    result = core.totp_verify(key, code, middle * 30, digits=4, window=(counter - first))
    assert result == counter
    assert (
        core.totp_verify(
            key, code, middle * 30, digits=4, window=counter - first, after_counter=counter
        )
        == -1
    )


@pytest.mark.parametrize("digits", [6, 7, 8, 10])
def test_leading_zero_codes(core, digits):
    key = core.HmacKey(SECRET)
    for counter in range(2000):
        code = core.hotp(key, counter, digits)
        if code.startswith("0"):
            assert core.totp_verify(key, code, counter * 30, digits=digits, window=0) == counter
            with pytest.raises(ValueError):
                core.totp_verify(key, code.lstrip("0"), counter * 30, digits=digits, window=0)
            break
    else:
        pytest.fail("no leading-zero code found")


def test_hotp_loop_sums_the_codes(core):
    key = core.HmacKey(SECRET)
    expected = sum(int(core.hotp(key, counter, 6)) for counter in range(5, 25))
    assert core.hotp_loop(key, 20, 5, 6) == expected
    assert core.hotp_loop(key, 0) == 0


def test_ten_digit_codes_do_not_wrap(core):
    # A 10-digit code above 2**32 must not match a step whose value is 2**32 lower.
    key = core.HmacKey(SECRET)
    code = core.hotp(key, 7, 10)
    bumped = str(int(code) + 2**32).zfill(10)
    if len(bumped) == 10:
        assert core.totp_verify(key, bumped, 7 * 30, digits=10, window=0) == -1
    assert core.totp_verify(key, code, 7 * 30, digits=10, window=0) == 7
