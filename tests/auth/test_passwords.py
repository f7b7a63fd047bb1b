from __future__ import annotations

import pytest

from gateway.auth.passwords import (
    InlineHasher,
    PasswordHasher,
    PasswordPolicy,
    WeakPassword,
    check_username,
)
from gateway.config import Argon2Config
from gateway.errors import BadCharacter, BadRequest

from .helpers import CHEAP_ARGON2


@pytest.mark.parametrize("username", ["alice", "bob42", "0", "a" * 64])
def test_lower_case_letters_and_digits_are_accepted(username: str) -> None:
    check_username(username)


@pytest.mark.parametrize("char", [*' !@#$%^&*(.,":', "-", "_", "\n", "\t", "é", "\u0430"])
def test_any_other_character_is_a_bad_character(char: str) -> None:
    with pytest.raises(BadCharacter) as caught:
        check_username(f"ali{char}ce")
    assert caught.value.body() == {"error": "bad_character", "message": "BAD CHARACTER"}


def test_upper_case_is_not_folded() -> None:
    with pytest.raises(BadCharacter):
        check_username("Alice")


def test_empty_or_overlong_usernames_are_bad_requests() -> None:
    with pytest.raises(BadRequest) as caught:
        check_username("")
    assert type(caught.value) is BadRequest
    with pytest.raises(BadRequest):
        check_username("a" * 65)


policy = PasswordPolicy()


@pytest.mark.parametrize("password", ["abc123", "a1" * 20, "Passw0rd", "ü1ü1ü1", "a 1 b 2"])
def test_passwords_within_the_policy(password: str) -> None:
    policy.check(password)


@pytest.mark.parametrize(
    "password",
    [
        "abc12",
        "a1" * 20 + "x",
        "abcdefgh",
        "12345678",
        "!!!!!!!1",
        "abcdé²",
        "secret1\x00x",
        "pass\nword1",
    ],
    ids=[
        "5 chars",
        "41 chars",
        "no digit",
        "no letter",
        "symbols and a digit",
        "superscript",
        "NUL",
        "line break",
    ],
)
def test_passwords_outside_the_policy(password: str) -> None:
    with pytest.raises(WeakPassword) as caught:
        policy.check(password)
    assert caught.value.code == "bad_request"


def test_policy_bounds_come_from_config() -> None:
    strict = PasswordPolicy(min_length=10, max_length=12)
    with pytest.raises(WeakPassword):
        strict.check("abc123456")
    strict.check("abc1234567")


def test_hash_is_argon2id_with_configured_parameters() -> None:
    hasher = PasswordHasher(Argon2Config(memory_cost_kib=64, iterations=2, lanes=2))
    encoded = hasher.hash("secret123")
    assert encoded.startswith("$argon2id$v=19$m=64,t=2,p=2$")
    assert hasher.verify("secret123", encoded)
    assert not hasher.verify("secret124", encoded)
    assert not hasher.verify("Secret123", encoded)


def test_each_hash_has_its_own_salt() -> None:
    hasher = PasswordHasher(CHEAP_ARGON2)
    assert hasher.hash("secret123") != hasher.hash("secret123")


def test_dummy_hash_has_the_same_cost_and_matches_nothing() -> None:
    hasher = PasswordHasher(CHEAP_ARGON2)
    real = hasher.hash("secret123")
    assert hasher.dummy_hash.split("$")[:4] == real.split("$")[:4]
    for guess in ["", "secret123", "password1"]:
        assert not hasher.verify(guess, hasher.dummy_hash)


def test_repr_shows_cost_not_secrets() -> None:
    hasher = PasswordHasher(CHEAP_ARGON2)
    assert hasher.dummy_hash not in repr(hasher)


async def test_inline_hasher_is_the_sync_hasher_behind_await() -> None:
    inline = InlineHasher(PasswordHasher(CHEAP_ARGON2))
    encoded = await inline.hash("secret123")
    assert await inline.verify("secret123", encoded)
    assert not await inline.verify("wrong1", encoded)
    assert not await inline.verify("secret123", inline.dummy_hash)


def test_concurrent_multi_lane_hashes_all_finish() -> None:
    # Two 4-lane Argon2id hashes at once deadlock in OpenSSL's thread pool on
    # a 2-core machine (or fail with MemoryError) unless they are serialized.
    import threading

    from gateway.auth.passwords import PasswordHasher
    from gateway.config import Argon2Config

    hasher = PasswordHasher(Argon2Config(memory_cost_kib=1024, iterations=1, lanes=4))
    encoded = hasher.hash("secret123")
    results: list[bool] = []
    errors: list[BaseException] = []

    def work() -> None:
        try:
            hasher.hash("another1")
            results.append(hasher.verify("secret123", encoded))
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, daemon=True) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors
    assert not any(thread.is_alive() for thread in threads), "hashes deadlocked"
    assert results == [True] * 6
