from __future__ import annotations

import os
from collections.abc import Awaitable, Callable
from pathlib import Path

from gateway.store.base import Store
from gateway.store.memory import MemoryStore
from gateway.store.sqlite import SqliteStore

MASTER_KEY = bytes(range(32))

StoreFactory = Callable[[Path], Awaitable[Store]]


async def open_memory(_: Path) -> Store:
    return MemoryStore()


async def open_sqlite(data_dir: Path) -> Store:
    return await SqliteStore.open(data_dir, MASTER_KEY)


def files_bytes(data_dir: Path) -> bytes:
    """Everything SQLite wrote: the database and its WAL."""
    return b"".join(
        (data_dir / name).read_bytes()
        for name in sorted(os.listdir(data_dir))
        if name.startswith("gateway.sqlite3")
    )
