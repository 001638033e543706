"""SQLiteStore: the embedded default, on the standard library's ``sqlite3``.

Needs SQLite 3.35 or newer (``RETURNING``; upserts need 3.24). Each thread gets its own
connection in autocommit mode; operations that write more than one row run in
``BEGIN IMMEDIATE`` transactions, which take the database's write lock up front. The
database is in WAL mode (readers never block the writer), waits up to *timeout* seconds
for a lock held by another connection or process, and commits with ``synchronous=FULL``
so an accepted step survives a power cut, not only a crashed process.

Any number of processes on one machine may open the same file. Do not put it on a
network file system: SQLite's locks are not reliable there.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import time
from collections.abc import Mapping, Sequence
from typing import ClassVar, Final

from totpcore.errors import ConfigurationError, StoreError
from totpcore.store._sql import SQLITE, SQLITE_PRAGMAS, Dialect, Row
from totpcore.store._sqlstore import SqlStore

__all__ = ["MIN_SQLITE_VERSION", "SQLiteStore"]

#: RETURNING arrived in SQLite 3.35.0 (2021-03-12).
MIN_SQLITE_VERSION: Final = (3, 35, 0)
_WAL_RETRY_SECONDS: Final = 0.01


def enable_wal(conn: sqlite3.Connection, timeout: float) -> None:
    """Switch the database file to WAL mode (persistent: a no-op once done).

    The first switch needs an exclusive lock, and connections racing to make it get
    ``SQLITE_BUSY`` at once, without the busy handler (SQLite avoids a deadlock between
    two shared-lock holders). So the switch is retried for up to *timeout* seconds.
    """
    if conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal":
        return
    waited = 0.0
    while True:
        try:
            conn.execute("PRAGMA journal_mode = WAL")
        except sqlite3.OperationalError:  # noqa: PERF203 - a retry loop, run once per new file
            if waited >= timeout:
                raise
            time.sleep(_WAL_RETRY_SECONDS)
            waited += _WAL_RETRY_SECONDS
        else:
            return


def create_owner_only(path: str) -> None:
    """Create the database file with mode 0600 if it does not exist yet; else leave it.

    SQLite would create it 0644 less the umask: readable by every local user. It creates
    the ``-wal``, ``-shm`` and ``-journal`` files with the mode of the database file, so
    they are 0600 too. An existing file keeps its mode: that is the operator's choice.
    Any other failure (a missing directory, no permission) is left for SQLite to report
    as the driver error every store turns into ``StoreError``.
    """
    with contextlib.suppress(OSError):
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))


class SQLiteStore(SqlStore[sqlite3.Connection]):
    """MFA state in one SQLite database file, shared by threads and processes.

    Args:
        path: the database file; created on first use (call :meth:`create_schema`)
            with mode 0600, as are its WAL and shared-memory files. An existing file
            keeps its mode.
        timeout: seconds to wait for another writer before failing with ``StoreError``.

    Raises:
        ConfigurationError: *path* is empty or ``":memory:"`` (each thread would get a
            database of its own: use :class:`~totpcore.store.MemoryStore`), or *timeout*
            is negative.
        StoreError: the SQLite library is older than 3.35.
    """

    dialect: ClassVar[Dialect] = SQLITE
    driver_errors: ClassVar[tuple[type[Exception], ...]] = (sqlite3.Error,)

    def __init__(self, path: str | os.PathLike[str], *, timeout: float = 5.0) -> None:
        if sqlite3.sqlite_version_info < MIN_SQLITE_VERSION:
            raise StoreError(
                f"SQLiteStore needs SQLite 3.35 or newer (for RETURNING); "
                f"this Python has SQLite {sqlite3.sqlite_version}"
            )
        path = os.fspath(path)
        if path in {"", ":memory:"}:
            raise ConfigurationError(
                "SQLiteStore needs a file: an in-memory database would be private to each thread "
                "(use MemoryStore)"
            )
        if not timeout >= 0:
            raise ConfigurationError(f"timeout={timeout} must be zero or more seconds")
        super().__init__()
        self.path = path
        self.timeout = float(timeout)

    def __repr__(self) -> str:
        return f"SQLiteStore({self.path!r})"

    def _open(self) -> sqlite3.Connection:
        create_owner_only(self.path)
        conn = sqlite3.connect(
            self.path,
            timeout=self.timeout,
            isolation_level=None,  # autocommit: transactions are opened explicitly
            check_same_thread=False,  # used by one thread only, but close() may come from another
        )
        try:
            enable_wal(conn, self.timeout)
            for pragma in SQLITE_PRAGMAS:
                conn.execute(pragma)
        except BaseException:
            conn.close()
            raise
        return conn

    def _execute(self, conn: sqlite3.Connection, sql: str, params: Mapping[str, object]) -> list[Row]:
        # fetchall() steps the statement to its end: with RETURNING the change is only
        # complete then.
        return conn.execute(sql, params).fetchall()

    def _execute_many(
        self, conn: sqlite3.Connection, sql: str, params: Sequence[Mapping[str, object]]
    ) -> None:
        conn.executemany(sql, params)

    @staticmethod
    def _close_connection(conn: object) -> None:
        assert isinstance(conn, sqlite3.Connection)  # noqa: S101 - only ever given our own
        conn.close()

    def _explain(self, exc: Exception) -> str:
        # SQLite's messages name tables and constraints, never bound values.
        name = getattr(exc, "sqlite_errorname", type(exc).__name__)
        text = str(exc)
        hint = "; has create_schema() been called?" if "no such table" in text else ""
        return f"{name}: {text}{hint}"
