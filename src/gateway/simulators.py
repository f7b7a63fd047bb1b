"""The device side, as the command-line tool plays it: what a card shows and
what a phone app computes. They talk to the gateway only through its HTTP
API (DESIGN.md, "Factor and device contracts"), as a real device or person
would, so load tests can use the same code.

A device's state lives in a JSON file created with mode 0600 (it holds the
device's key).
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import cbor2
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

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

    def open_delivery(self, approval: dict[str, Any]) -> str:
        """What support sent in a ``temporary_passcode`` item of the
        approvals list (``cryptography.exceptions.InvalidTag`` if it was not
        sealed for this phone)."""
        from gateway.auth.factors.ibkey import open_on_phone

        key = from_b64u(self.data["ocra_key"])
        return open_on_phone(key, approval["approval_id"], from_b64u(approval["sealed"]))

    def readable(self, approval: dict[str, Any]) -> dict[str, Any]:
        """An approvals-list item as the app shows it: a delivery opened."""
        if approval.get("kind") != "temporary_passcode":
            return approval
        return {**approval, "passcode": self.open_delivery(approval)}

    def offline(self, challenge: str, pin: str) -> str:
        """The response the app shows for ``challenge`` after ``pin``."""
        from gateway.auth.factors.ibkey import IbKeySecret, offline_response

        key = from_b64u(self.data["ocra_key"])
        secret = IbKeySecret(b"", key, str(self.data["ocra_suite"]), pin)
        return offline_response(secret, challenge, pin)


@dataclass
class SoftCredential:
    """One passkey an authenticator holds."""

    rp_id: str
    user_handle: bytes
    key: ec.EllipticCurvePrivateKey = field(repr=False)
    count: int = 0  # the sign counter


class SoftAuthenticator:
    """A WebAuthn authenticator in software, as a browser would drive it:
    ``create`` answers creation options and ``get`` request options with the
    ``PublicKeyCredential.toJSON()`` of a real one (``none`` attestation,
    ES256 keys, user present and verified). ``clone`` copies its keys and
    counters, as a cloned security key would; ``synced`` ones keep no
    counter (always 0, like a synced passkey)."""

    AAGUID = bytes(16)

    def __init__(self, *, synced: bool = False, verifies_user: bool = True) -> None:
        self.synced = synced
        self.verifies_user = verifies_user
        self.credentials: dict[bytes, SoftCredential] = {}  # by credential id

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> SoftAuthenticator:
        """The authenticator a device file (``state()``) keeps."""
        authenticator = cls(
            synced=bool(state.get("synced")), verifies_user=bool(state.get("verifies_user", True))
        )
        try:
            for entry in state.get("credentials", []):
                key = serialization.load_der_private_key(from_b64u(entry["private_key"]), None)
                if not isinstance(key, ec.EllipticCurvePrivateKey):
                    raise ValueError("a credential's key is not an EC key")
                authenticator.credentials[from_b64u(entry["id"])] = SoftCredential(
                    str(entry["rp_id"]), from_b64u(entry["user_handle"]), key, int(entry["count"])
                )
        except (KeyError, TypeError, ValueError) as exc:
            raise DeviceFileError(f"not a passkey file: {exc}") from None
        return authenticator

    def state(self) -> dict[str, Any]:
        """What its file keeps: the keys, and each credential's counter."""
        der = serialization.Encoding.DER, serialization.PrivateFormat.PKCS8
        return {
            "device": "passkey",
            "synced": self.synced,
            "verifies_user": self.verifies_user,
            "credentials": [
                {
                    "id": b64u(cid),
                    "rp_id": c.rp_id,
                    "user_handle": b64u(c.user_handle),
                    "private_key": b64u(c.key.private_bytes(*der, serialization.NoEncryption())),
                    "count": c.count,
                }
                for cid, c in self.credentials.items()
            ],
        }

    def clone(self) -> SoftAuthenticator:
        twin = SoftAuthenticator(synced=self.synced, verifies_user=self.verifies_user)
        twin.credentials = {k: replace(c) for k, c in self.credentials.items()}
        return twin

    def create(
        self, options: dict[str, Any], origin: str, credential_id: bytes | None = None
    ) -> dict[str, Any]:
        """``credential_id``: reuse that id (a misbehaving or cloned
        authenticator); a new random one by default."""
        rp_id = options["rp"].get("id") or _host(origin)
        excluded = {from_b64u(c["id"]) for c in options.get("excludeCredentials", ())}
        if excluded & set(self.credentials):
            raise ValueError("InvalidStateError: a credential of this authenticator is excluded")
        key = ec.generate_private_key(ec.SECP256R1())
        numbers = key.public_key().public_numbers()
        x, y = numbers.x.to_bytes(32, "big"), numbers.y.to_bytes(32, "big")
        cose = {1: 2, 3: -7, -1: 1, -2: x, -3: y}  # EC2, ES256, P-256
        credential_id = credential_id or os.urandom(32)
        self.credentials[credential_id] = SoftCredential(
            rp_id, from_b64u(options["user"]["id"]), key
        )
        attested = self.AAGUID + len(credential_id).to_bytes(2, "big") + credential_id
        auth_data = self._auth_data(rp_id, 0x40, 0) + attested + cbor2.dumps(cose)
        attestation = cbor2.dumps({"fmt": "none", "attStmt": {}, "authData": auth_data})
        client_data = self._client_data("webauthn.create", options["challenge"], origin)
        return self._credential(
            credential_id,
            client_data,
            attestationObject=b64u(attestation),
            transports=["internal", "hybrid"],
        )

    def get(self, options: dict[str, Any], origin: str) -> dict[str, Any]:
        rp_id = options.get("rpId") or _host(origin)
        allowed = [from_b64u(c["id"]) for c in options.get("allowCredentials", ())]
        usable = [
            cid
            for cid, c in self.credentials.items()
            if c.rp_id == rp_id and (not allowed or cid in allowed)
        ]
        if not usable:
            raise ValueError("NotAllowedError: no credential of this authenticator is allowed")
        credential_id = usable[0]
        credential = self.credentials[credential_id]
        if not self.synced:
            credential.count += 1
        auth_data = self._auth_data(rp_id, 0, credential.count)
        client_data = self._client_data("webauthn.get", options["challenge"], origin)
        signed = auth_data + hashlib.sha256(client_data).digest()
        return self._credential(
            credential_id,
            client_data,
            authenticatorData=b64u(auth_data),
            signature=b64u(credential.key.sign(signed, ec.ECDSA(hashes.SHA256()))),
            userHandle=b64u(credential.user_handle),
        )

    @staticmethod
    def _credential(credential_id: bytes, client_data: bytes, **response: object) -> dict[str, Any]:
        """``PublicKeyCredential.toJSON()`` with the authenticator's ``response``."""
        return {
            "id": b64u(credential_id),
            "rawId": b64u(credential_id),
            "type": "public-key",
            "authenticatorAttachment": "platform",
            "clientExtensionResults": {},
            "response": {"clientDataJSON": b64u(client_data), **response},
        }

    def _auth_data(self, rp_id: str, flags: int, count: int) -> bytes:
        flags |= 0x01 | (0x04 if self.verifies_user else 0)  # user present, verified
        return hashlib.sha256(rp_id.encode()).digest() + bytes([flags]) + count.to_bytes(4, "big")

    @staticmethod
    def _client_data(kind: str, challenge: str, origin: str) -> bytes:
        data = {"type": kind, "challenge": challenge, "origin": origin, "crossOrigin": False}
        return json.dumps(data, separators=(",", ":")).encode()


def _host(origin: str) -> str:
    return origin.split("://", 1)[-1].split(":", 1)[0]
