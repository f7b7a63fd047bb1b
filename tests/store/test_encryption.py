from __future__ import annotations

import base64
import os
import stat
from pathlib import Path

import pytest

from gateway.store.encryption import (
    MASTER_KEY_FILE,
    MasterKeyError,
    SecretSealer,
    beside_the_data,
    load_or_create_key_file,
    parse_master_key,
    resolve_master_key,
)

KEY = bytes(range(32))


@pytest.mark.parametrize(
    "text",
    [
        KEY.hex(),
        KEY.hex().upper(),
        base64.b64encode(KEY).decode(),
        base64.urlsafe_b64encode(KEY).decode().rstrip("="),
        f"  {KEY.hex()}\n",
    ],
    ids=["hex", "HEX", "base64", "urlsafe unpadded", "whitespace"],
)
def test_master_key_forms(text: str) -> None:
    assert parse_master_key(text) == KEY


@pytest.mark.parametrize(
    "text",
    ["", "00" * 31, "00" * 33, base64.b64encode(bytes(16)).decode(), "not a key at all!"],
)
def test_malformed_master_keys(text: str) -> None:
    with pytest.raises(MasterKeyError):
        parse_master_key(text)


def test_key_file_is_created_once_with_mode_0600(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    old_umask = os.umask(0)  # even a permissive umask must not widen the mode
    try:
        key = load_or_create_key_file(data_dir / MASTER_KEY_FILE)
    finally:
        os.umask(old_umask)
    path = data_dir / MASTER_KEY_FILE
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(data_dir.stat().st_mode) == 0o700
    assert len(key) == 32
    assert load_or_create_key_file(path) == key


def test_key_file_readable_by_others_is_refused(tmp_path: Path) -> None:
    path = tmp_path / MASTER_KEY_FILE
    load_or_create_key_file(path)
    path.chmod(0o644)
    with pytest.raises(MasterKeyError):
        load_or_create_key_file(path)


def test_configured_key_wins_over_the_key_file(tmp_path: Path) -> None:
    assert resolve_master_key(KEY.hex(), tmp_path) == (KEY, None)
    assert not (tmp_path / MASTER_KEY_FILE).exists()
    from_file = resolve_master_key(None, tmp_path)
    assert from_file[1] == tmp_path / MASTER_KEY_FILE and from_file[1].exists()
    assert resolve_master_key(None, tmp_path) == from_file
    assert beside_the_data(from_file[1], tmp_path)


def test_the_key_file_can_live_outside_the_data_directory(tmp_path: Path) -> None:
    data_dir, key_path = tmp_path / "data", tmp_path / "keys" / "gateway.key"
    key, where = resolve_master_key(None, data_dir, str(key_path))
    assert where == key_path and key_path.exists() and len(key) == 32
    assert not (data_dir / MASTER_KEY_FILE).exists()
    assert not beside_the_data(where, data_dir)
    assert resolve_master_key(None, data_dir, str(key_path)) == (key, key_path)


def test_seal_and_open() -> None:
    sealer = SecretSealer(KEY)
    sealed = sealer.seal(b"totp seed", b"device:d1")
    assert b"totp seed" not in sealed
    assert sealer.open(sealed, b"device:d1") == b"totp seed"
    assert sealer.seal(b"totp seed", b"device:d1") != sealed  # fresh nonce


def test_sealed_value_is_bound_to_its_row_and_key() -> None:
    sealed = SecretSealer(KEY).seal(b"totp seed", b"device:d1")
    with pytest.raises(MasterKeyError):
        SecretSealer(KEY).open(sealed, b"device:d2")
    with pytest.raises(MasterKeyError):
        SecretSealer(bytes(32)).open(sealed, b"device:d1")
    with pytest.raises(MasterKeyError):
        SecretSealer(KEY).open(b"\x02" + sealed[1:], b"device:d1")


def test_sealer_repr_hides_the_key() -> None:
    assert KEY.hex() not in repr(SecretSealer(KEY))
    with pytest.raises(MasterKeyError):
        SecretSealer(b"short")


def test_admin_token_file_is_created_once_with_mode_0600(tmp_path: Path) -> None:
    from gateway.store.encryption import ADMIN_TOKEN_FILE, load_or_create_admin_token

    token, created = load_or_create_admin_token(tmp_path / "data")
    assert created and len(token) >= 40
    path = tmp_path / "data" / ADMIN_TOKEN_FILE
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert load_or_create_admin_token(tmp_path / "data") == (token, False)
    path.chmod(0o644)
    with pytest.raises(MasterKeyError, match="readable by others"):
        load_or_create_admin_token(tmp_path / "data")
