from __future__ import annotations

import pytest

from gateway.auth.core import LoginCore
from gateway.auth.factors.totp import secret_from_base32
from gateway.auth.passwords import WeakPassword
from gateway.errors import BadCharacter, BadRequest, NotFound
from gateway.store.base import AlreadyExists
from gateway.store.memory import MemoryStore

from .helpers import PASSWORD, CountingHasher


async def test_create_user_in_a_new_account(core: LoginCore, store: MemoryStore) -> None:
    user = await core.support.create_user("alice", PASSWORD, email="a@example.com")
    assert user.account_id.startswith("U") and len(user.account_id) == 8
    assert await store.get_account(user.account_id) is not None
    assert user.email == "a@example.com"
    assert user.password_hash.startswith("$argon2id$")
    assert PASSWORD not in user.password_hash
    assert user.password_hash not in repr(user)


async def test_several_users_in_one_account(core: LoginCore, store: MemoryStore) -> None:
    await core.support.create_user("alice", PASSWORD, account_id="U1234567")
    await core.support.create_user("bob", PASSWORD, account_id="U1234567")
    users = await store.users_of_account("U1234567")
    assert sorted(u.username for u in users) == ["alice", "bob"]


async def test_create_user_checks_name_password_and_uniqueness(
    core: LoginCore, hasher: CountingHasher
) -> None:
    with pytest.raises(BadCharacter):
        await core.support.create_user("Alice", PASSWORD)
    with pytest.raises(WeakPassword):
        await core.support.create_user("alice", "short")
    await core.support.create_user("alice", PASSWORD)
    with pytest.raises(AlreadyExists):
        await core.support.create_user("alice", PASSWORD)
    with pytest.raises(BadRequest):
        await core.support.create_user("bob", PASSWORD, account_id="no spaces")
    assert hasher.hash_calls == 1


async def test_set_password_enforces_the_policy(
    core: LoginCore, store: MemoryStore, hasher: CountingHasher
) -> None:
    await core.support.create_user("alice", PASSWORD)
    with pytest.raises(WeakPassword):
        await core.support.set_password("alice", "nodigits")
    await core.support.set_password("alice", "newpass99")
    user = await store.get_user("alice")
    assert user is not None
    assert await hasher.verify("newpass99", user.password_hash)
    assert not await hasher.verify(PASSWORD, user.password_hash)


async def test_enrol_totp(core: LoginCore) -> None:
    await core.support.create_user("alice", PASSWORD)
    enrolment = await core.support.enrol_totp("alice", label="phone")
    assert secret_from_base32(enrolment.secret_base32) == enrolment.device.secret
    assert enrolment.otpauth_uri.startswith("otpauth://totp/")
    assert enrolment.secret_base32 not in repr(enrolment)
    assert [d.device_id for d in await core.support.devices("alice")] == [
        enrolment.device.device_id
    ]
    await core.support.remove_device("alice", enrolment.device.device_id)
    assert await core.support.devices("alice") == []
    with pytest.raises(NotFound):
        await core.support.remove_device("alice", enrolment.device.device_id)


async def test_user_lookup(core: LoginCore) -> None:
    created = await core.support.create_user("alice", PASSWORD, phone="+15550100")
    assert await core.support.user("alice") == created


async def test_actions_on_unknown_users_are_not_found(core: LoginCore) -> None:
    for action in (
        core.support.user("nobody"),
        core.support.devices("nobody"),
        core.support.enrol_totp("nobody"),
        core.support.unlock("nobody"),
        core.support.lock_status("nobody"),
        core.support.set_password("nobody", PASSWORD),
    ):
        with pytest.raises(NotFound):
            await action


async def test_end_unknown_session(core: LoginCore) -> None:
    with pytest.raises(NotFound):
        await core.support.end_session("0" * 64)
