"""What waits for IB Key phones: push approvals and support's deliveries,
bounded so that nobody's requests can push out anybody else's.

Each item belongs to the class of whoever asked for it:

- ``LOGIN``: a login's push, asked for after the right password. Each
  phone keeps its newest ``LOGIN_PER_DEVICE``; past the overall bound the
  oldest login push anywhere gives way. Only login pushes ever give way to
  login pushes.
- ``RECOVERY``: a password reset's approval, asked for by anyone who knows
  a username. A phone holds at most ``RECOVERY_PER_DEVICE`` and the gateway
  ``MAX_PER_CLASS``; past either a new one is refused (the recovery tells
  its caller nothing of it), never an older one dropped.
- ``SUPPORT``: a delivery from support (a temporary passcode). A new one
  replaces the phone's earlier one.

Every class expires on the clock; within a class items live equally long,
so the oldest is always first.
"""

from __future__ import annotations

import enum
from collections import OrderedDict

from gateway.auth.factors.ibkey import PushTicket


class Requester(enum.Enum):
    LOGIN = "login"
    RECOVERY = "recovery"
    SUPPORT = "support"


LOGIN_PER_DEVICE = 10
RECOVERY_PER_DEVICE = 3
SUPPORT_PER_DEVICE = 1
MAX_PER_CLASS = 10_000

_PER_DEVICE = {
    Requester.LOGIN: LOGIN_PER_DEVICE,
    Requester.RECOVERY: RECOVERY_PER_DEVICE,
    Requester.SUPPORT: SUPPORT_PER_DEVICE,
}
_REFUSES = frozenset({Requester.RECOVERY})  # the others make room in their own class


class ApprovalQueue:
    def __init__(self, max_per_class: int = MAX_PER_CLASS) -> None:
        self._max = max_per_class
        self._classes: dict[Requester, OrderedDict[str, PushTicket]] = {
            requester: OrderedDict() for requester in Requester
        }
        self._by_id: dict[str, tuple[Requester, PushTicket]] = {}
        # device -> class -> approval ids, oldest first
        self._devices: dict[str, dict[Requester, OrderedDict[str, None]]] = {}

    def __len__(self) -> int:
        return len(self._by_id)

    def add(self, ticket: PushTicket, requester: Requester) -> bool:
        """Queue ``ticket``; False if its class refuses it (see above)."""
        everyone = self._classes[requester]
        mine: dict[str, None] = self._devices.get(ticket.device_id, {}).get(requester, {})
        if requester in _REFUSES:
            if len(mine) >= _PER_DEVICE[requester] or len(everyone) >= self._max:
                return False
        else:
            while len(mine) >= _PER_DEVICE[requester]:
                self.withdraw(next(iter(mine)))
            while len(everyone) >= self._max:
                self.withdraw(next(iter(everyone)))
        everyone[ticket.approval_id] = ticket
        self._by_id[ticket.approval_id] = (requester, ticket)
        device = self._devices.setdefault(ticket.device_id, {})
        device.setdefault(requester, OrderedDict())[ticket.approval_id] = None
        return True

    def get(self, approval_id: str) -> PushTicket | None:
        found = self._by_id.get(approval_id)
        return found[1] if found is not None else None

    def pending(self, device_id: str) -> list[PushTicket]:
        """The device's unanswered items, oldest first."""
        found = [
            self._by_id[approval_id][1]
            for ids in self._devices.get(device_id, {}).values()
            for approval_id in ids
        ]
        found.sort(key=lambda t: t.created_at)
        return [t for t in found if t.decision is None]

    def withdraw(self, approval_id: str) -> None:
        found = self._by_id.pop(approval_id, None)
        if found is None:
            return
        requester, ticket = found
        del self._classes[requester][approval_id]
        device = self._devices[ticket.device_id]
        del device[requester][approval_id]
        if not device[requester]:
            del device[requester]
            if not device:
                del self._devices[ticket.device_id]

    def drop_device(self, device_id: str) -> None:
        """Everything waiting for a phone that has ended."""
        for ids in list(self._devices.get(device_id, {}).values()):
            for approval_id in list(ids):
                self.withdraw(approval_id)

    def forget_expired(self, now: float) -> None:
        for tickets in self._classes.values():
            while tickets:
                approval_id, ticket = next(iter(tickets.items()))
                if now < ticket.expires_at:
                    break
                self.withdraw(approval_id)
