"""SQLiteStore: the embedded default, on the standard library's ``sqlite3``.

Needs SQLite 3.35 or newer (``RETURNING``; upserts need 3.24). Each thread gets its own
connection in autocommit mode; operations that write more than one row run in
``BEGIN IMMEDIATE`` transactions, which take the database's write lock up front. The
database is in WAL mode (readers never block the writer) and commits with
``synchronous=FULL`` so an accepted step survives a power cut, not only a crashed process.

Contention: SQLite has one writer at a time. An operation that finds the database busy
is run again after a random pause (jittered exponential backoff: many processes waiting
on one lock do not wake together, and none waits ever longer while newcomers overtake
it) until *timeout* seconds have passed since it started; only then is it a
``StoreError``. A busy transaction is rolled back before it runs again, so nothing half
done is ever committed.

Connections: each thread gets its own, kept in a :class:`threading.local` and closed
when the thread ends (a finaliser) or when :meth:`close` is called. A process that
inherits a connection through ``fork()`` never uses, closes or frees it: it opens its own.
After any other database error the thread's connection is discarded (closing it rolls
back whatever was open), so a failed transaction can never leak into the next operation.

Up to 16 processes on one machine may share the file (measured in ``docs/storage.md``,
"How many processes on one SQLite file"). Do not put it on a network file system:
SQLite's locks are not reliable there.
"""

from __future__ import annotations

import contextlib
import os
import random
import sqlite3
import threading
import time
import weakref
from collections.abc import Iterator
from os import getpid
from typing import Any, ClassVar, Final

from totpcore.errors import ConfigurationError, StoreError
from totpcore.store._sql import SQLITE, SQLITE_PRAGMAS, Dialect, Row
from totpcore.store._sqlstore import Operation, SqlStore, Stmt

__all__ = ["MIN_SQLITE_VERSION", "SQLiteStore"]

#: RETURNING arrived in SQLite 3.35.0 (2021-03-12).
MIN_SQLITE_VERSION: Final = (3, 35, 0)
_WAL_RETRY_SECONDS: Final = 0.01
#: SQLite's own busy handler waits this long per run; our jittered retries do the rest.
#: Its sleeps grow to 25 ms and are not jittered, and a process that has waited long polls
#: no more often than the cap allows while a process that just committed asks again at
#: once: short runs and a low cap keep the longest waits short. Measured with
#: benchmarks/sqlite_contention.py (docs/storage.md): against 0.2 s / 5 ms / 0.25 s, the
#: 99th-percentile login of 16 processes fell from 0.6-1.9 s to 0.26-0.61 s and the worst
#: from 2.0-5.0 s to 0.6-1.8 s, at the same throughput; polling faster cost CPU instead.
_BUSY_WAIT: Final = 0.02
#: The first retry pauses up to this long; each further one up to twice as long, capped.
_BACKOFF_FIRST: Final = 0.002
_BACKOFF_CAP: Final = 0.05
#: SQLITE_BUSY and SQLITE_LOCKED (primary result codes, the low byte of extended ones).
_BUSY_CODES: Final = frozenset({5, 6})

# Connections inherited through fork(): kept referenced so the child never frees (and so
# closes) a handle that belongs to its parent.
_INHERITED: list[object] = []


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


def is_busy(exc: BaseException) -> bool:
    """Whether *exc* is SQLite saying another connection holds the lock (busy or locked)."""
    code = getattr(exc, "sqlite_errorcode", None)
    if code is not None:
        return code & 0xFF in _BUSY_CODES
    # Python 3.10 has no error codes on exceptions: SQLite's messages are fixed strings.
    return isinstance(exc, sqlite3.OperationalError) and "locked" in str(exc)  # pragma: no cover


class _Slot:
    """One thread's connection, tagged with the process that opened it.

    The finaliser closes the connection when the slot dies with its thread, at
    :meth:`SQLiteStore.close`, after an error, or at interpreter exit, whichever is first.
    """

    __slots__ = ("__weakref__", "conn", "finalizer", "pid")

    def __init__(self, conn: sqlite3.Connection, pid: int) -> None:
        self.conn = conn
        self.pid = pid
        self.finalizer = weakref.finalize(self, _release, conn, pid)


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
        timeout: seconds an operation may keep waiting for other writers before it
            fails with ``StoreError``.

    Raises:
        ConfigurationError: *path* is empty or ``":memory:"`` (each thread would get a
            database of its own: use :class:`~totpcore.store.MemoryStore`), or *timeout*
            is negative.
        StoreError: the SQLite library is older than 3.35.
    """

    dialect: ClassVar[Dialect] = SQLITE
    driver_errors: ClassVar[tuple[type[Exception], ...]] = (sqlite3.Error,)

    def __init__(self, path: str | os.PathLike[str], *, timeout: float = 10.0) -> None:
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
        self._local = threading.local()
        self._lock = threading.Lock()
        self._finalizers: list[weakref.finalize[..., _Slot]] = []
        self._closed = False

    def __repr__(self) -> str:
        return f"SQLiteStore({self.path!r})"

    # ------------------------------------------------------------ connections

    def _open(self) -> sqlite3.Connection:
        create_owner_only(self.path)
        conn = sqlite3.connect(
            self.path,
            timeout=min(self.timeout, _BUSY_WAIT),
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

    def _thread_connection(self) -> sqlite3.Connection:
        if self._closed:
            raise StoreError("the store is closed")
        pid = getpid()
        slot: _Slot | None = getattr(self._local, "slot", None)
        if slot is not None and slot.pid == pid:
            return slot.conn
        # A slot inherited through fork() is dropped here; its finaliser sees the other
        # pid and keeps the parent's connection untouched.
        slot = _Slot(self._open(), pid)
        with self._lock:
            self._finalizers = [f for f in self._finalizers if f.alive]
            self._finalizers.append(slot.finalizer)
        self._local.slot = slot
        return slot.conn

    def _discard(self) -> None:
        """Close this thread's connection: the next operation opens a fresh one."""
        slot: _Slot | None = getattr(self._local, "slot", None)
        self._local.slot = None
        if slot is not None:
            slot.finalizer()

    @contextlib.contextmanager
    def _connection(self, operation: Operation[Any]) -> Iterator[sqlite3.Connection]:
        conn = self._thread_connection()
        try:
            if operation.transaction:
                conn.execute(self.dialect.begin)
            yield conn
            if operation.transaction:
                conn.execute("COMMIT")
        except sqlite3.Error as exc:
            if not (is_busy(exc) and _rolled_back(conn)):
                self._discard()
            raise
        except BaseException:
            # A bug, or an interrupt mid-statement: closing the connection rolls back
            # whatever was open and leaves no half-read result behind.
            self._discard()
            raise

    def _execute(self, conn: sqlite3.Connection, statement: Stmt) -> list[Row]:
        if statement.many:
            conn.executemany(statement.sql, statement.params)
            return []
        # fetchall() steps the statement to its end: with RETURNING the change is only
        # complete then.
        return conn.execute(statement.sql, statement.params).fetchall()

    def _retry(self, exc: Exception, attempt: int, started: float) -> bool:
        """Busy: pause a random time up to an exponentially growing bound, within the deadline."""
        if not is_busy(exc):
            return False
        remaining = started + self.timeout - time.monotonic()
        if remaining <= 0:
            return False
        bound = min(_BACKOFF_CAP, _BACKOFF_FIRST * 2 ** min(attempt - 1, 16))
        time.sleep(min(remaining, random.uniform(0, bound)))  # noqa: S311 - jitter, not a secret
        return True

    def _explain(self, exc: Exception) -> str:
        # SQLite's messages name tables and constraints, never bound values.
        name = getattr(exc, "sqlite_errorname", type(exc).__name__)
        text = str(exc)
        hint = "; has create_schema() been called?" if "no such table" in text else ""
        return f"{name}: {text}{hint}"

    def close(self) -> None:
        """Close every connection this process opened. The store is unusable afterwards."""
        self._closed = True
        with self._lock:
            finalizers, self._finalizers = self._finalizers, []
        for finalizer in finalizers:
            finalizer()


def _rolled_back(conn: sqlite3.Connection) -> bool:
    """End whatever transaction a busy error left open; whether the connection is reusable."""
    try:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
    except sqlite3.Error:
        return False
    return True


def _release(conn: sqlite3.Connection, pid: int) -> None:
    """Finaliser of a thread's connection: close it, unless this process inherited it.

    A failure to close is ignored: the connection is being thrown away, often because of
    an earlier error that must be the one reported.
    """
    if getpid() == pid:
        with contextlib.suppress(Exception):
            conn.close()
    else:
        _INHERITED.append(conn)
