"""Where the gateway keeps accounts, users, devices and lock state."""

from gateway.store.base import (
    Account,
    AlreadyExists,
    Device,
    Store,
    ThreadRunner,
    User,
    run_inline,
)
from gateway.store.memory import MemoryStore
from gateway.store.sqlite import SqliteStore

__all__ = [
    "Account",
    "AlreadyExists",
    "Device",
    "MemoryStore",
    "SqliteStore",
    "Store",
    "ThreadRunner",
    "User",
    "run_inline",
]
