"""open_store() and open_async_store(): a store from a URL, so a deployment chooses it in configuration."""

from __future__ import annotations

from typing import Final

from totpcore.errors import ConfigurationError
from totpcore.store.base import AsyncStore, Store

__all__ = ["open_async_store", "open_store"]

#: The one query parameter of a PostgreSQL URL that totpcore reads (and removes before
#: the URL reaches libpq, which would refuse it).
POOL_SIZE_PARAM: Final = "pool_size"


def open_store(url: str) -> Store:
    """Return the store that *url* names. Connections open lazily, on first use.

    - ``memory://``: a :class:`~totpcore.store.MemoryStore`.
    - ``sqlite:///PATH``: a :class:`~totpcore.store.SQLiteStore` on the file PATH, taken
      verbatim as SQLAlchemy does: ``sqlite:///mfa.db`` is relative to the working
      directory, ``sqlite:////var/lib/emr/mfa.db`` is absolute.
    - ``postgresql://...`` or ``postgres://...``: a :class:`~totpcore.store.PostgresStore`
      given the URL as its DSN; ``?pool_size=N`` (1 to 1000, default 10) bounds its
      connections and is removed from the URL first.

    The schema is not created: call ``create_schema()`` at deployment (it is idempotent),
    or use :func:`totpcore.open_service`, which does.

    Raises:
        ConfigurationError: an unknown scheme, an empty path or a bad ``pool_size``. The
            message never repeats the URL, which may hold a password.
        ImportError: a PostgreSQL URL without psycopg installed (``pip install 'totpcore[postgres]'``).
    """
    kind, target = _parse(url)
    if kind == "memory":
        from totpcore.store.memory import MemoryStore  # noqa: PLC0415 - keeps sqlite3/psycopg unloaded

        return MemoryStore()
    if kind == "sqlite":
        from totpcore.store.sqlite import SQLiteStore  # noqa: PLC0415

        return SQLiteStore(target)
    from totpcore.store.postgres import PostgresStore  # noqa: PLC0415

    dsn, pool_size = _pool_size(target)
    return PostgresStore(dsn, pool_size=pool_size)


def open_async_store(url: str) -> AsyncStore:
    """Return the async store that *url* names (same URLs as :func:`open_store`).

    PostgreSQL gets :class:`~totpcore.store.AsyncPostgresStore` (psycopg's async API, no
    thread per call); memory and SQLite get their blocking store behind an
    :class:`~totpcore.store.AsyncStoreAdapter` (calls run in worker threads).

    Raises:
        ConfigurationError, ImportError: as :func:`open_store`.
    """
    kind, target = _parse(url)
    if kind == "postgres":
        from totpcore.store.postgres import AsyncPostgresStore  # noqa: PLC0415

        dsn, pool_size = _pool_size(target)
        return AsyncPostgresStore(dsn, pool_size=pool_size)
    from totpcore.store.aio import AsyncStoreAdapter  # noqa: PLC0415

    return AsyncStoreAdapter(open_store(url))


def _parse(url: object) -> tuple[str, str]:
    """The kind of store ("memory", "sqlite", "postgres") and its path or DSN."""
    if not isinstance(url, str):
        raise ConfigurationError(f"a store URL is a str, not {type(url).__name__}")
    scheme, sep, rest = url.partition("://")
    if sep and scheme == "memory" and not rest:
        return "memory", ""
    if sep and scheme == "sqlite" and rest.startswith("/") and len(rest) > 1:
        return "sqlite", rest[1:]
    if sep and scheme in {"postgresql", "postgres"}:
        return "postgres", url
    shown = scheme if sep else "(none)"
    hint = ""
    if sep and scheme == "sqlite" and rest:
        hint = " (a SQLite URL has three slashes before a relative path: sqlite:///FILE)"
    raise ConfigurationError(
        f"unsupported store URL (scheme {shown!r}): expected memory://, sqlite:///PATH or postgresql://...{hint}"
    )


def _pool_size(url: str) -> tuple[str, int]:
    """Remove ``pool_size=N`` from the URL's query, keeping every other parameter verbatim."""
    from totpcore.store.postgres import DEFAULT_POOL_SIZE  # noqa: PLC0415

    base, sep, query = url.partition("?")
    if not sep:
        return url, DEFAULT_POOL_SIZE
    kept: list[str] = []
    sizes: list[str] = []
    for item in query.split("&"):
        name, _, value = item.partition("=")
        if name == POOL_SIZE_PARAM:
            sizes.append(value)
        else:
            kept.append(item)
    if not sizes:
        return url, DEFAULT_POOL_SIZE
    if len(sizes) > 1 or not (sizes[0].isascii() and sizes[0].isdigit()):
        raise ConfigurationError(f"{POOL_SIZE_PARAM} in the store URL must be given once, as a whole number")
    return base + ("?" + "&".join(kept) if kept else ""), int(sizes[0])
