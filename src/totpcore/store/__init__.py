"""Persistence of MFA state behind one protocol, blocking and async (``docs/storage.md``).

``MemoryStore`` and the URL openers load nothing optional; ``SQLiteStore``,
``PostgresStore``, ``AsyncPostgresStore`` and ``AsyncStoreAdapter`` are imported on
first access (PEP 562), so ``import totpcore.store`` loads neither ``sqlite3``,
``psycopg`` nor ``asyncio``.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from totpcore.store.base import SCHEMA_VERSION, AsyncStore, Claim, ClaimResult, Status, Store, UserRecord
from totpcore.store.memory import MemoryStore
from totpcore.store.url import open_async_store, open_store

if TYPE_CHECKING:
    from totpcore.store.aio import AsyncStoreAdapter
    from totpcore.store.postgres import AsyncPostgresStore, PostgresStore
    from totpcore.store.sqlite import SQLiteStore

__all__ = [
    "SCHEMA_VERSION",
    "AsyncPostgresStore",
    "AsyncStore",
    "AsyncStoreAdapter",
    "Claim",
    "ClaimResult",
    "MemoryStore",
    "PostgresStore",
    "SQLiteStore",
    "Status",
    "Store",
    "UserRecord",
    "open_async_store",
    "open_store",
]

_LAZY = {
    "AsyncStoreAdapter": "totpcore.store.aio",
    "SQLiteStore": "totpcore.store.sqlite",
    "PostgresStore": "totpcore.store.postgres",
    "AsyncPostgresStore": "totpcore.store.postgres",
}


def __getattr__(name: str) -> object:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'totpcore.store' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)


def __dir__() -> list[str]:
    return sorted(__all__)
