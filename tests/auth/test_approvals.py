"""What waits for IB Key phones: anonymous requests never push out a
login's approval, and each class makes room only in itself."""

from __future__ import annotations

from gateway.auth.approvals import (
    LOGIN_PER_DEVICE,
    RECOVERY_PER_DEVICE,
    ApprovalQueue,
    Requester,
)
from gateway.auth.factors.ibkey import PushTicket
from gateway.store.base import Device

NOW = 1_700_000_000.0


def phone(device_id: str = "phone1") -> Device:
    return Device(device_id, "alice", "ibkey", None, b"", 0, NOW)


def ticket(device: Device, at: float = NOW, lifetime: float = 180.0) -> PushTicket:
    return PushTicket.new(device, at, lifetime)


def test_recoveries_never_push_out_a_login_approval() -> None:
    queue = ApprovalQueue()
    login = ticket(phone())
    assert queue.add(login, Requester.LOGIN)
    added = [queue.add(ticket(phone()), Requester.RECOVERY) for _ in range(12)]
    assert added == [True] * RECOVERY_PER_DEVICE + [False] * (12 - RECOVERY_PER_DEVICE)
    assert queue.get(login.approval_id) is login
    assert login in queue.pending("phone1")


def test_a_phone_keeps_its_newest_login_approvals() -> None:
    queue = ApprovalQueue()
    reset = ticket(phone())
    assert queue.add(reset, Requester.RECOVERY)
    logins = [ticket(phone(), NOW + n) for n in range(LOGIN_PER_DEVICE + 2)]
    for login in logins:
        assert queue.add(login, Requester.LOGIN)
    assert queue.get(logins[0].approval_id) is None and queue.get(logins[1].approval_id) is None
    assert all(queue.get(t.approval_id) is t for t in logins[2:])
    assert queue.get(reset.approval_id) is reset  # another class: untouched


def test_overall_bounds_refuse_recoveries_and_evict_only_logins() -> None:
    queue = ApprovalQueue(max_per_class=2)
    resets = [ticket(phone(f"p{n}")) for n in range(3)]
    assert [queue.add(t, Requester.RECOVERY) for t in resets] == [True, True, False]
    logins = [ticket(phone(f"q{n}"), NOW + n) for n in range(3)]
    for login in logins:
        assert queue.add(login, Requester.LOGIN)
    assert queue.get(logins[0].approval_id) is None  # the oldest login gave way
    assert queue.get(resets[0].approval_id) is resets[0]
    assert len(queue) == 4


def test_a_support_delivery_replaces_the_earlier_one() -> None:
    queue = ApprovalQueue()
    first, second = ticket(phone()), ticket(phone(), NOW + 1)
    assert queue.add(first, Requester.SUPPORT) and queue.add(second, Requester.SUPPORT)
    assert queue.pending("phone1") == [second]


def test_expired_answered_and_ended_items_go() -> None:
    queue = ApprovalQueue()
    old, new = ticket(phone(), NOW, 10.0), ticket(phone(), NOW + 5, 10.0)
    queue.add(old, Requester.LOGIN)
    queue.add(new, Requester.LOGIN)
    queue.forget_expired(NOW + 10)
    assert queue.get(old.approval_id) is None and queue.pending("phone1") == [new]
    new.decision = "approve"
    assert queue.pending("phone1") == []  # answered: no longer listed
    queue.add(ticket(phone()), Requester.RECOVERY)
    queue.drop_device("phone1")
    assert len(queue) == 0 and queue.pending("phone1") == []
