"""open_store(): a store from a URL, so a deployment can choose it in configuration."""

from __future__ import annotations

from totpcore.errors import ConfigurationError
from totpcore.store.base import Store

__all__ = ["open_store"]


def open_store(url: str) -> Store:
    """Return the store that *url* names. Connections open lazily, on first use.

    - ``memory://``: a :class:`~totpcore.store.MemoryStore`.
    - ``sqlite:///PATH``: a :class:`~totpcore.store.SQLiteStore` on the file PATH, taken
      verbatim as SQLAlchemy does: ``sqlite:///mfa.db`` is relative to the working
      directory, ``sqlite:////var/lib/emr/mfa.db`` is absolute.
    - ``postgresql://...`` or ``postgres://...``: a :class:`~totpcore.store.PostgresStore`
      given the whole URL as its DSN.

    The schema is not created: call ``create_schema()`` at deployment (it is idempotent).

    Raises:
        ConfigurationError: an unknown scheme or an empty path. The message never repeats
            the URL, which may hold a password.
        ImportError: a PostgreSQL URL without psycopg installed (``pip install 'totpcore[postgres]'``).
    """
    scheme, sep, rest = url.partition("://")
    if sep and scheme == "memory" and not rest:
        from totpcore.store.memory import MemoryStore  # noqa: PLC0415 - keeps sqlite3/psycopg unloaded

        return MemoryStore()
    if sep and scheme == "sqlite" and rest.startswith("/") and len(rest) > 1:
        from totpcore.store.sqlite import SQLiteStore  # noqa: PLC0415

        return SQLiteStore(rest[1:])
    if sep and scheme in {"postgresql", "postgres"}:
        from totpcore.store.postgres import PostgresStore  # noqa: PLC0415

        return PostgresStore(url)
    shown = scheme if sep else "(none)"
    raise ConfigurationError(
        f"unsupported store URL (scheme {shown!r}): expected memory://, sqlite:///PATH or postgresql://..."
    )
