"""Secrets at rest: AES-256-GCM under a 32-byte master key.

The master key comes from ``GATEWAY_MASTER_KEY`` (through the config) as
64 hex digits or as standard/URL-safe base64 of 32 bytes; failing that, from
a key file: ``GATEWAY_MASTER_KEY_FILE`` / ``[secrets] master_key_file``, or
by default ``<data dir>/master.key``, created on first start with mode 0600
and holding the key as 64 hex digits. A key file in the data directory sits
beside the database it protects (one backup or copy carries both), so the
gateway warns at start when that is where the key is.

Each sealed value is bound to its row through the associated data
(``context``), so a ciphertext copied to another row does not open.
"""

from __future__ import annotations

import base64
import binascii
import os
import secrets
import stat
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

MASTER_KEY_FILE = "master.key"
ADMIN_TOKEN_FILE = "admin-token"
KEY_BYTES = 32
_NONCE_BYTES = 12
_VERSION = b"\x01"  # format of a sealed value: version, nonce, ciphertext+tag


class MasterKeyError(ValueError):
    """The master key is malformed, missing, unsafe on disk or not the one
    the data was sealed with."""


def parse_master_key(text: str) -> bytes:
    """32 bytes from 64 hex digits or from base64 (standard or URL-safe)."""
    text = text.strip()
    if len(text) == 2 * KEY_BYTES:
        try:
            return bytes.fromhex(text)
        except ValueError:
            pass  # 64 characters of base64 would be 48 bytes: refused below
    standard = text.replace("-", "+").replace("_", "/")
    standard += "=" * (-len(standard) % 4)
    try:
        key = base64.b64decode(standard, validate=True)
    except (binascii.Error, ValueError):
        raise MasterKeyError("master key must be 64 hex digits or base64 of 32 bytes") from None
    if len(key) != KEY_BYTES:
        raise MasterKeyError("master key must be 64 hex digits or base64 of 32 bytes")
    return key


def load_or_create_key_file(path: Path) -> bytes:
    """Read the key file at ``path``, creating it (mode 0600, and its
    directory 0700) on first start.

    A key file that group or others may read is refused, as ssh refuses such
    a private key: the key protects every device secret.
    """
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    try:
        # O_EXCL: two processes starting at once cannot both write a key.
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return _read_key_file(path)
    key = os.urandom(KEY_BYTES)
    with os.fdopen(fd, "w") as handle:
        os.fchmod(handle.fileno(), 0o600)
        handle.write(key.hex() + "\n")
        handle.flush()
        os.fsync(handle.fileno())
    return key


def load_or_create_admin_token(data_dir: Path) -> tuple[str, bool]:
    """Read ``data_dir/admin-token``, creating it (mode 0600) on first start;
    returns the token and whether it was just created. Like the key file, one
    that group or others may read is refused."""
    data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    path = data_dir / ADMIN_TOKEN_FILE
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return _read_admin_token(path), False
    token = secrets.token_urlsafe(32)
    with os.fdopen(fd, "w") as handle:
        os.fchmod(handle.fileno(), 0o600)
        handle.write(token + "\n")
        handle.flush()
        os.fsync(handle.fileno())
    return token, True


def _read_admin_token(path: Path) -> str:
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        raise MasterKeyError(f"{path} is readable by others (mode {mode:o}); chmod 600 it")
    token = path.read_text(encoding="ascii").strip()
    if not token:
        raise MasterKeyError(f"{path} is empty; remove it to have a new token made")
    return token


def _read_key_file(path: Path) -> bytes:
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        raise MasterKeyError(f"{path} is readable by others (mode {mode:o}); chmod 600 it")
    return parse_master_key(path.read_text(encoding="ascii"))


def resolve_master_key(
    configured: str | None, data_dir: Path, key_file: str | None = None
) -> tuple[bytes, Path | None]:
    """The configured key (``GATEWAY_MASTER_KEY``) if any, else the key
    file (``key_file``, or ``master.key`` in the data directory); returns
    the key and the file it came from (``None`` for a configured key)."""
    if configured:
        return parse_master_key(configured), None
    path = Path(key_file).expanduser() if key_file else data_dir / MASTER_KEY_FILE
    return load_or_create_key_file(path), path


def beside_the_data(key_path: Path | None, data_dir: Path) -> bool:
    """Whether a key file is inside the data directory it protects."""
    if key_path is None:
        return False
    return key_path.resolve().is_relative_to(data_dir.resolve())


class SecretSealer:
    """Seals and opens small secrets with AES-256-GCM."""

    def __init__(self, key: bytes) -> None:
        if len(key) != KEY_BYTES:
            raise MasterKeyError("master key must be 32 bytes")
        self._aead = AESGCM(key)

    def seal(self, plaintext: bytes, context: bytes) -> bytes:
        nonce = os.urandom(_NONCE_BYTES)
        return _VERSION + nonce + self._aead.encrypt(nonce, plaintext, context)

    def open(self, sealed: bytes, context: bytes) -> bytes:
        if len(sealed) < 1 + _NONCE_BYTES or sealed[:1] != _VERSION:
            raise MasterKeyError("sealed value has an unknown format")
        nonce, ciphertext = sealed[1 : 1 + _NONCE_BYTES], sealed[1 + _NONCE_BYTES :]
        try:
            return self._aead.decrypt(nonce, ciphertext, context)
        except InvalidTag:
            raise MasterKeyError("sealed value does not open under this master key") from None

    def __repr__(self) -> str:
        return "SecretSealer(<key hidden>)"
