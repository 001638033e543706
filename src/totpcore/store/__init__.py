"""Persistence of MFA state behind one protocol (DESIGN.md section 7).

``MemoryStore`` and ``open_store`` load nothing optional; ``SQLiteStore`` and
``PostgresStore`` are imported on first access (PEP 562), so ``import totpcore.store``
loads neither ``sqlite3`` nor ``psycopg``.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from totpcore.store.base import SCHEMA_VERSION, Claim, ClaimResult, Status, Store, UserRecord
from totpcore.store.memory import MemoryStore
from totpcore.store.url import open_store

if TYPE_CHECKING:
    from totpcore.store.postgres import PostgresStore
    from totpcore.store.sqlite import SQLiteStore

__all__ = [
    "SCHEMA_VERSION",
    "Claim",
    "ClaimResult",
    "MemoryStore",
    "PostgresStore",
    "SQLiteStore",
    "Status",
    "Store",
    "UserRecord",
    "open_store",
]

_LAZY = {"SQLiteStore": "totpcore.store.sqlite", "PostgresStore": "totpcore.store.postgres"}


def __getattr__(name: str) -> object:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'totpcore.store' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)


def __dir__() -> list[str]:
    return sorted(__all__)
