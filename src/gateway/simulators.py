"""The device side, as the command-line tool plays it: what a card shows and
what a phone app computes. They talk to the gateway only through its HTTP
API (DESIGN.md, "Factor and device contracts"), as a real device or person
would, so load tests can use the same code.

A device's state lives in a JSON file created with mode 0600 (it holds the
device's key).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from gateway.auth.factors.cards import CardSecret, decode_key, respond
from gateway.encoding import b64u, from_b64u


class DeviceFileError(ValueError):
    """A device file that is missing, unreadable or not of the expected kind."""


def write_device_file(path: Path, state: dict[str, Any]) -> None:
    """Write ``state`` to ``path`` (a new file, or one this tool wrote),
    readable by its owner only."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        os.fchmod(handle.fileno(), 0o600)
        json.dump(state, handle, indent=2)
        handle.write("\n")


def read_device_file(path: Path, kind: str) -> dict[str, Any]:
    try:
        state = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise DeviceFileError(f"cannot read {path}: {exc}") from None
    if not isinstance(state, dict) or state.get("device") != kind:
        raise DeviceFileError(f"{path} is not a {kind} file")
    return state


def card_state(enrolment: dict[str, Any]) -> dict[str, Any]:
    """What a card holds, from support's enrolment answer. The PIN is not
    kept: the card asks its holder for it."""
    return {
        "device": "card",
        "type": enrolment["type"],
        "device_id": enrolment["device_id"],
        "serial": enrolment["serial"],
        "ocra_suite": enrolment["ocra_suite"],
        "secret": enrolment["secret"],
    }


def card_response(state: dict[str, Any], challenge: str, pin: str | None) -> str:
    """What the card shows for ``challenge`` once unlocked with ``pin``."""
    suite = str(state["ocra_suite"])
    if suite.endswith("-PSHA1") and not pin:
        raise DeviceFileError("this card needs its PIN")
    if not challenge.isdigit() or len(challenge) != 6:
        raise DeviceFileError("a card challenge is 6 digits")
    card = CardSecret(decode_key(str(state["secret"])), suite, str(state["serial"]), pin)
    return respond(card, challenge, pin)


def code_card_state(enrolment: dict[str, Any]) -> dict[str, Any]:
    """A Security Code Card as its holder keeps it."""
    return {"device": "scc", "device_id": enrolment["device_id"], "card": enrolment["card"]}


def code_card_text(state: dict[str, Any]) -> str:
    """The grid, as printed."""
    card = state["card"]
    columns = card["columns"]
    lines = ["     " + "   ".join(columns)]
    for row in range(1, int(card["rows"]) + 1):
        codes = " ".join(card["codes"][f"{c}{row}"] for c in columns)
        lines.append(f"{row:>3}  {codes}")
    return "\n".join(lines)


def code_card_response(state: dict[str, Any], positions: list[str]) -> str:
    codes = state["card"]["codes"]
    missing = [p for p in positions if p.upper() not in codes]
    if missing or len(positions) != 2:
        raise DeviceFileError("give the two positions the login asks for, e.g. C4 H9")
    return "".join(codes[p.upper()] for p in positions)


class Phone:
    """The IB Key phone app: its Ed25519 key pair, and after activation its
    device id and OCRA key. ``state()`` is what its file keeps."""

    def __init__(self, state: dict[str, Any] | None = None) -> None:
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

        self.data: dict[str, Any] = dict(state or {"device": "ibkey"})
        if "private_key" not in self.data:
            raw = Ed25519PrivateKey.generate().private_bytes_raw()
            self.data["private_key"] = b64u(raw)
        self._key = Ed25519PrivateKey.from_private_bytes(from_b64u(self.data["private_key"]))

    @property
    def public_key(self) -> str:
        return b64u(self._key.public_key().public_bytes_raw())

    @property
    def device_id(self) -> str:
        return str(self.data["device_id"])

    def activated(self, answer: dict[str, Any]) -> None:
        self.data.update(
            device_id=answer["device_id"],
            ocra_suite=answer["ocra_suite"],
            ocra_key=answer["ocra_key"],
        )

    def sign(self, message: str) -> str:
        return b64u(self._key.sign(message.encode()))

    def list_headers(self, now: float) -> dict[str, str]:
        at = str(int(now))
        return {
            "X-IBKey-Time": at,
            "X-IBKey-Signature": self.sign(f"list\n{self.device_id}\n{at}"),
        }

    def answer(self, approval: dict[str, Any], decision: str) -> dict[str, str]:
        message = f"{approval['approval_id']}\n{approval['nonce']}\n{decision}"
        return {"decision": decision, "signature": self.sign(message)}

    def offline(self, challenge: str, pin: str) -> str:
        """The response the app shows for ``challenge`` after ``pin``."""
        from gateway.auth.factors.ibkey import IbKeySecret, offline_response

        key = from_b64u(self.data["ocra_key"])
        secret = IbKeySecret(b"", key, str(self.data["ocra_suite"]), pin)
        return offline_response(secret, challenge, pin)
