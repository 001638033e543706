"""open_service() and open_async_service(): a ready service from a URL and a key file, in one call."""

from __future__ import annotations

import os
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from totpcore.errors import ConfigurationError
from totpcore.sealing import KeyRing
from totpcore.service.aio import AsyncMfaService
from totpcore.service.model import AuditEvent, Policy
from totpcore.service.sync import MfaService
from totpcore.store.base import AsyncStore, Store
from totpcore.store.url import open_async_store, open_store

__all__ = ["load_key_ring", "open_async_service", "open_service"]


def load_key_ring(key_file: str | os.PathLike[str], *, create: bool = False) -> KeyRing:
    """Load the key ring from *key_file*; with *create*, make a new one (mode 0600) if the file is missing.

    Creation is safe when several processes start at once: the file is created
    exclusively, and a process that loses the race loads the winner's ring.

    Raises:
        ConfigurationError: the file is missing (and not *create*), unreadable, readable
            by others, or not a key ring.
    """
    path = Path(key_file)
    if create and not path.exists():
        try:
            KeyRing.generate().save(path)
        except ConfigurationError:
            if not path.exists():
                raise  # not a lost race: the directory is missing or not writable
    return KeyRing.from_file(path)


def open_service(
    url: str,
    *,
    key_file: str | os.PathLike[str],
    issuer: str,
    policy: Policy | None = None,
    create_key: bool = False,
    clock: Callable[[], float] = time.time,
    audit: Callable[[AuditEvent], None] | None = None,
) -> MfaService:
    """Open the store *url* names, create its schema, load the key ring, return an :class:`MfaService`.

    >>> import logging; logging.basicConfig(level=logging.INFO)  # or pass audit=...
    >>> svc = open_service("sqlite:///mfa.db", key_file="mfa.key", issuer="Outsmart EMR",
    ...                    create_key=True)  # doctest: +SKIP

    Args:
        url: ``memory://``, ``sqlite:///PATH`` or ``postgresql://...`` (see
            :func:`~totpcore.store.open_store`; ``?pool_size=N`` bounds PostgreSQL connections).
        key_file: the key ring (JSON, mode 0600, outside the database).
        issuer: the name authenticator apps show.
        policy: the rules (default ``Policy()``).
        clock: returns Unix seconds (default ``time.time``).
        audit: the audit sink (default: the ``totpcore.audit`` logger, which must be configured).
        create_key: create the key file (mode 0600) when it does not exist. Only for the
            first start of a deployment: a lost key makes every stored secret useless.

    Raises:
        ConfigurationError: a bad URL, key file or argument (nothing is left open).
        StoreError: the database failed or holds a newer schema.
        ImportError: a PostgreSQL URL without the ``postgres`` extra.
    """
    keyring = load_key_ring(key_file, create=create_key)
    store = open_store(url)
    try:
        store.create_schema()
        return MfaService(store, issuer=issuer, keyring=keyring, policy=policy, clock=clock, audit=audit)
    except BaseException:
        store.close()
        raise


def open_async_service(
    url: str,
    *,
    key_file: str | os.PathLike[str],
    issuer: str,
    policy: Policy | None = None,
    create_key: bool = False,
    clock: Callable[[], float] = time.time,
    audit: Callable[[AuditEvent], object] | Callable[[AuditEvent], Awaitable[object]] | None = None,
) -> AsyncMfaService:
    """:func:`open_service` for asyncio backends: return an :class:`AsyncMfaService`.

    A plain function, so it fits module level or a lifespan hook. It creates the schema
    with a short blocking connection (once, at start-up), then serves every call
    asynchronously: PostgreSQL through psycopg's async API and a bounded async pool,
    memory and SQLite in worker threads. ``await svc.close()`` at shutdown.

    Raises:
        ConfigurationError, StoreError, ImportError: as :func:`open_service`.
    """
    keyring = load_key_ring(key_file, create=create_key)
    store = open_async_store(url)
    try:
        _create_schema(store, url)
        return AsyncMfaService(store, issuer=issuer, keyring=keyring, policy=policy, clock=clock, audit=audit)
    except BaseException:
        _close_quietly(store)
        raise


def _create_schema(store: AsyncStore, url: str) -> None:
    """Create the schema without an event loop: on the adapter's own store, or a one-off connection."""
    from totpcore.store.aio import AsyncStoreAdapter  # noqa: PLC0415 - asyncio only for the async face

    if isinstance(store, AsyncStoreAdapter):
        store.store.create_schema()
        return
    blocking: Store = open_store(url)
    try:
        blocking.create_schema()
    finally:
        blocking.close()


def _close_quietly(store: AsyncStore) -> None:
    """Close a store that never served a call (nothing async is open yet)."""
    from totpcore.store.aio import AsyncStoreAdapter  # noqa: PLC0415

    if isinstance(store, AsyncStoreAdapter):
        store.store.close()
