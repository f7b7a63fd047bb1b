"""A dsc card's PIN unlocks the card itself (its suite has no PIN): the
gateway neither keeps it nor lets anyone change it, even for a card stored
with one before."""

from __future__ import annotations

import pytest

from gateway.auth.core import LoginCore
from gateway.auth.factors.cards import CARD_TYPES, SUITE_WITHOUT_PIN, CardSecret, card_of, seal_form
from gateway.errors import BadRequest
from gateway.store.memory import MemoryStore

from .helpers import PASSWORD


async def test_a_dsc_card_keeps_no_pin(core: LoginCore, store: MemoryStore) -> None:
    await core.support.create_user("alice", PASSWORD)
    dsc = await core.support.enrol_card("alice", "dsc")
    assert dsc.pin_shown is not None  # the card's own PIN, handed out with it
    kept = card_of(dsc.device)
    assert kept is not None and kept.pin is None
    dscplus = await core.support.enrol_card("alice", "dscplus", pin="1234")
    kept = card_of(dscplus.device)
    assert kept is not None and kept.pin == "1234"  # part of every response
    assert CARD_TYPES["dsc"].pin_in_suite is False


async def test_a_dsc_stored_with_a_pin_still_has_none_to_change(
    core: LoginCore, store: MemoryStore
) -> None:
    await core.support.create_user("alice", PASSWORD)
    old = CardSecret(b"k" * 20, SUITE_WITHOUT_PIN, "DSC000000001", "1234")
    device = await store.add_device("alice", "dsc", seal_form(old), None, 0.0)
    with pytest.raises(BadRequest, match="on the card alone"):
        await core.support.change_pin("alice", device.device_id, "4321", old_pin="1234")
    with pytest.raises(BadRequest, match="on the card alone"):
        await core.support.change_pin("alice", device.device_id, "4321", old_pin=None)
