"""The login core stays sans-IO: no event loop, network, HTTP or database
imports under gateway/auth, and policy never imports a factor."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import gateway.auth

AUTH = Path(gateway.auth.__file__).parent
FORBIDDEN = {
    "trio", "anyio", "asyncio", "quart", "hypercorn", "httpx", "h11", "socket",
    "sqlite3", "coredis", "gateway.http", "gateway.store.sqlite", "gateway.cli",
}  # fmt: skip
POLICY_MODULES = ["lockout.py", "sessions.py", "ratelimit.py"]


def imports_of(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def forbidden(name: str, banned: set[str]) -> bool:
    return any(name == b or name.startswith(b + ".") for b in banned)


@pytest.mark.parametrize("path", sorted(AUTH.rglob("*.py")), ids=lambda p: p.name)
def test_no_io_imports(path: Path) -> None:
    assert not [n for n in imports_of(path) if forbidden(n, FORBIDDEN)]


@pytest.mark.parametrize("name", POLICY_MODULES)
def test_policy_does_not_import_factors(name: str) -> None:
    assert not [n for n in imports_of(AUTH / name) if forbidden(n, {"gateway.auth.factors"})]


@pytest.mark.parametrize("path", sorted((AUTH / "factors").glob("*.py")), ids=lambda p: p.name)
def test_factors_do_not_import_policy(path: Path) -> None:
    banned = {"gateway.auth.lockout", "gateway.auth.sessions", "gateway.auth.flow"}
    assert not [n for n in imports_of(path) if forbidden(n, banned)]
