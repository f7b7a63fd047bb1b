"""Security devices that support ships (SPEC 4; the broker's FAQ item 8).

A card enrolled with ``ships`` (a DSC+, DSC, Platinum or Gold card, or a
Security Code Card) travels by post: until its holder has it, anyone who
intercepts it must not be able to log in with it. It is therefore
*pending*: not offered at login and not accepted there, until

- its holder activates it from a session, answering a challenge from it
  (``POST /v1/devices/{id}/activate``: proof that it arrived in the right
  hands), or
- ``[devices] auto_activate_days`` have passed since its delivery date
  without that (a holder who never activates is not left without it).

The shipment is a store setting per device (``SHIPPED`` + device id): when
it is delivered and when it activates by itself, fixed when it is shipped.
Activation empties the setting. Pending is decided on the clock at each
look, so the automatic activation needs no task and holds across restarts.
"""

from __future__ import annotations

from collections.abc import Iterable

import msgspec

from gateway.store.base import Device, Store

SHIPPED = "shipped:"  # store setting, by device id: its ``Shipment``
SHIPPABLE = frozenset({"dscplus", "platinum", "gold", "dsc", "scc"})
DAY = 86_400.0


class Shipment(msgspec.Struct, frozen=True, kw_only=True):
    deliver_at: float
    activates_at: float  # by itself, unless its holder activated it earlier


_encode = msgspec.json.Encoder().encode
_decode = msgspec.json.Decoder(Shipment).decode


def new_shipment(deliver_at: float, auto_activate_days: float) -> Shipment:
    return Shipment(deliver_at=deliver_at, activates_at=deliver_at + auto_activate_days * DAY)


def seal_form(shipment: Shipment) -> str:
    return _encode(shipment).decode()


async def shipment_of(store: Store, device_id: str) -> Shipment | None:
    """The device's shipment while it is recorded (``None``: never shipped,
    or activated by its holder)."""
    value = await store.get_setting(SHIPPED + device_id)
    if not value:
        return None
    try:
        return _decode(value)
    except (msgspec.DecodeError, msgspec.ValidationError):
        return None


def is_pending(shipment: Shipment | None, now: float) -> bool:
    return shipment is not None and now < shipment.activates_at


async def pending_ids(store: Store, devices: Iterable[Device], now: float) -> set[str]:
    """The ids of ``devices`` that are shipped and not active yet."""
    found = set()
    for device in devices:
        if device.type in SHIPPABLE and is_pending(await shipment_of(store, device.device_id), now):
            found.add(device.device_id)
    return found


async def usable(store: Store, devices: Iterable[Device], now: float) -> list[Device]:
    """``devices`` without the pending ones: what a login may offer and accept."""
    devices = list(devices)
    pending = await pending_ids(store, devices, now)
    return [d for d in devices if d.device_id not in pending] if pending else devices
