"""PostgresStore and AsyncPostgresStore: MFA state in PostgreSQL, for many app servers on one database.

Needs the ``postgres`` extra (psycopg 3 and psycopg_pool). Both stores run the same
operations (``_sqlstore.SqlOperations``) through a bounded connection pool: one store
holds at most *pool_size* server connections (default 10) however many threads or
tasks use it, and a caller waits up to *timeout* seconds for one before the operation
fails with ``StoreError``.

Connections are in autocommit mode, so a single-statement operation is one round trip
and its own transaction; multi-statement operations run between ``BEGIN ISOLATION LEVEL
READ COMMITTED`` and ``COMMIT`` with the user's row locked first (``FOR UPDATE`` or the
``UPDATE`` itself). At READ COMMITTED a concurrent ``UPDATE ... WHERE last_step < :step``
waits for the row lock and then re-checks its condition on the committed row, which is
what makes the replay guard atomic across servers (PostgreSQL manual, "Transaction
Isolation", 13.2.1). A single statement runs at the server's default level: if a DBA
made that SERIALIZABLE, a lost race is a serialisation failure, and the operation runs
again (up to three times) to get the clean answer.

Nothing relies on session state: no ``SET``, no prepared statements
(``prepare_threshold=None``), no session advisory locks. So the stores work behind
PgBouncer in transaction pooling mode.

Server-side limits (``lock_timeout``, ``statement_timeout``) can be set in the DSN for a
direct connection, for example ``postgresql://app@db/emr?options=-c%20lock_timeout%3D2s``;
an exceeded limit is a ``StoreError``.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Callable, Iterator, Sequence
from os import getpid
from typing import Any, ClassVar, Final, TypeVar

try:
    import psycopg
    import psycopg_pool
    from psycopg import conninfo
    from psycopg.pq import TransactionStatus
except ImportError as exc:  # pragma: no cover - the dev extra always installs them
    raise ImportError(
        "PostgresStore needs psycopg 3 and psycopg_pool: pip install 'totpcore[postgres]'", name=exc.name
    ) from exc

from totpcore._checks import check_int
from totpcore._drive import adrive
from totpcore.errors import ConfigurationError, StoreError
from totpcore.store._sql import POSTGRES, Dialect, Row
from totpcore.store._sqlstore import Operation, SqlOperations, SqlStore, Stmt, failure
from totpcore.store.base import Claim, Status, UserRecord
from totpcore.throttle import Throttle

__all__ = ["DEFAULT_POOL_SIZE", "DEFAULT_POOL_TIMEOUT", "AsyncPostgresStore", "PostgresStore"]

T = TypeVar("T")

DEFAULT_POOL_SIZE: Final = 10
DEFAULT_POOL_TIMEOUT: Final = 10.0
MAX_POOL_SIZE: Final = 1000
_UNDEFINED_TABLE: Final = "42P01"
#: serialization_failure, deadlock_detected: the transaction was rolled back, run it again.
_TRANSIENT: Final = frozenset({"40001", "40P01"})
_ATTEMPTS: Final = 3
#: What every pooled connection is opened with (no prepared statements: PgBouncer).
_CONNECTION_KWARGS: Final = {"autocommit": True, "prepare_threshold": None}

# Pools inherited through fork(): kept referenced so the child never frees (and so
# closes) connections that belong to its parent.
_INHERITED: list[object] = []


def _conninfo(dsn: str) -> str:
    """*dsn* with ``application_name=totpcore`` unless it names one (DBAs tell connections apart)."""
    try:
        named = "application_name" in conninfo.conninfo_to_dict(dsn)
        return dsn if named else conninfo.make_conninfo(dsn, application_name="totpcore")
    except psycopg.ProgrammingError:
        raise ConfigurationError("the PostgreSQL connection string is malformed") from None


def _check_pool(pool_size: int, timeout: float) -> None:
    check_int("pool_size", pool_size, 1, MAX_POOL_SIZE)
    if type(timeout) not in (int, float) or not 0 < timeout <= 3600:
        raise ConfigurationError(f"timeout={timeout!r} must be 0 to 3600 seconds")


def _explain(exc: Exception) -> str:
    # The primary message of a server error can quote a value; report only the class
    # and SQLSTATE. The chained exception keeps the details for the operator's log.
    sqlstate = getattr(exc, "sqlstate", None)
    code = f" (SQLSTATE {sqlstate})" if sqlstate else ""
    hint = "; has create_schema() been called?" if sqlstate == _UNDEFINED_TABLE else ""
    return f"{type(exc).__name__}{code}{hint}"


def _transient(exc: Exception, attempt: int) -> bool:
    return getattr(exc, "sqlstate", None) in _TRANSIENT and attempt < _ATTEMPTS


def _needs_closing(conn: psycopg.Connection[Row] | psycopg.AsyncConnection[Row]) -> bool:
    """After an exception: whether *conn* is in a state no rollback can mend (mid-statement, broken)."""
    return conn.info.transaction_status in (TransactionStatus.ACTIVE, TransactionStatus.UNKNOWN)


def _in_transaction(conn: psycopg.Connection[Row] | psycopg.AsyncConnection[Row]) -> bool:
    return conn.info.transaction_status in (TransactionStatus.INTRANS, TransactionStatus.INERROR)


class PostgresStore(SqlStore["psycopg.Connection[Row]"]):
    """MFA state in a PostgreSQL database, through a bounded pool of blocking connections.

    Args:
        dsn: a libpq connection string or ``postgresql://`` URL. It is never repeated
            in an error message (it may hold a password). ``application_name`` defaults
            to ``totpcore``. Nothing connects here: an unreachable server is a
            ``StoreError`` on first use, after *timeout*.
        pool_size: the most server connections this store opens (1 to 1000).
        timeout: seconds to wait for a pooled connection.

    Raises:
        ConfigurationError: a malformed *dsn*, *pool_size* or *timeout*.
        TypeError: *pool_size* is not an int.
    """

    dialect: ClassVar[Dialect] = POSTGRES
    driver_errors: ClassVar[tuple[type[Exception], ...]] = (psycopg.Error,)

    def __init__(
        self, dsn: str, *, pool_size: int = DEFAULT_POOL_SIZE, timeout: float = DEFAULT_POOL_TIMEOUT
    ) -> None:
        _check_pool(pool_size, timeout)
        super().__init__()
        self._conninfo = _conninfo(dsn)
        self.pool_size = pool_size
        self.timeout = float(timeout)
        self._lock = threading.Lock()
        self._pool_object: psycopg_pool.ConnectionPool[psycopg.Connection[Row]] | None = None
        self._pid = getpid()
        self._closed = False

    def __repr__(self) -> str:
        return f"PostgresStore(<dsn redacted>, pool_size={self.pool_size})"

    def _pool(self) -> psycopg_pool.ConnectionPool[psycopg.Connection[Row]]:
        with self._lock:
            if self._closed:
                raise StoreError("the store is closed")
            if self._pool_object is not None and self._pid != getpid():
                # Inherited through fork(): its threads are gone and its sockets are the
                # parent's. Keep it referenced (never closed here) and open our own.
                _INHERITED.append(self._pool_object)
                self._pool_object = None
            if self._pool_object is None:
                pool: psycopg_pool.ConnectionPool[psycopg.Connection[Row]] = psycopg_pool.ConnectionPool(
                    self._conninfo,
                    min_size=0,
                    max_size=self.pool_size,
                    kwargs=dict(_CONNECTION_KWARGS),
                    timeout=self.timeout,
                    name="totpcore",
                    open=False,
                )
                pool.open(wait=False)
                self._pool_object, self._pid = pool, getpid()
            return self._pool_object

    @contextlib.contextmanager
    def _connection(self, operation: Operation[Any]) -> Iterator[psycopg.Connection[Row]]:
        with self._pool().connection() as conn:
            try:
                if operation.transaction:
                    conn.execute(self.dialect.begin)
                yield conn
                if operation.transaction:
                    conn.execute("COMMIT")
            except BaseException:
                _abandon(conn)
                raise

    def _execute(self, conn: psycopg.Connection[Row], statement: Stmt) -> list[Row]:
        if statement.many:
            with conn.cursor() as cursor:
                cursor.executemany(statement.sql, statement.params)
            return []
        cursor = conn.execute(statement.sql, statement.params or None)
        return cursor.fetchall() if cursor.description is not None else []

    def _retry(self, exc: Exception, attempt: int, started: float) -> bool:  # noqa: ARG002 - no deadline
        return _transient(exc, attempt)

    def _explain(self, exc: Exception) -> str:
        return _explain(exc)

    def close(self) -> None:
        """Close the pool's connections. The store is unusable afterwards."""
        with self._lock:
            self._closed = True
            pool, self._pool_object = self._pool_object, None
        if pool is not None and self._pid == getpid():
            pool.close()


def _abandon(conn: psycopg.Connection[Row]) -> None:
    """Leave *conn* clean for the pool after an exception: roll back, or close it."""
    with contextlib.suppress(psycopg.Error):
        if _in_transaction(conn):
            conn.execute("ROLLBACK")
    if _needs_closing(conn) or _in_transaction(conn):
        conn.close()


class AsyncPostgresStore:
    """:class:`PostgresStore` as coroutines, on psycopg's async API and an async pool.

    Runs the very operations of the blocking store; only the driver differs. The pool
    opens on first use, in the running event loop, and belongs to that loop: use one
    store per loop (per worker process), and ``await store.close()`` at shutdown.

    Args:
        dsn, pool_size, timeout: as :class:`PostgresStore`.
    """

    dialect: ClassVar[Dialect] = POSTGRES

    def __init__(
        self, dsn: str, *, pool_size: int = DEFAULT_POOL_SIZE, timeout: float = DEFAULT_POOL_TIMEOUT
    ) -> None:
        _check_pool(pool_size, timeout)
        self._conninfo = _conninfo(dsn)
        self.pool_size = pool_size
        self.timeout = float(timeout)
        self._ops = SqlOperations(self.dialect)
        self._pool_object: psycopg_pool.AsyncConnectionPool[psycopg.AsyncConnection[Row]] | None = None
        self._opening: asyncio.Lock | None = None
        self._closed = False

    def __repr__(self) -> str:
        return f"AsyncPostgresStore(<dsn redacted>, pool_size={self.pool_size})"

    async def _pool(self) -> psycopg_pool.AsyncConnectionPool[psycopg.AsyncConnection[Row]]:
        if self._closed:
            raise StoreError("the store is closed")
        if self._pool_object is None:
            self._opening = self._opening or asyncio.Lock()
            async with self._opening:
                # Another task may have opened it while this one waited for the lock.
                self._pool_object = self._pool_object or await self._open_pool()
        return self._pool_object

    async def _open_pool(self) -> psycopg_pool.AsyncConnectionPool[psycopg.AsyncConnection[Row]]:
        pool: psycopg_pool.AsyncConnectionPool[psycopg.AsyncConnection[Row]] = (
            psycopg_pool.AsyncConnectionPool(
                self._conninfo,
                min_size=0,
                max_size=self.pool_size,
                kwargs=dict(_CONNECTION_KWARGS),
                timeout=self.timeout,
                name="totpcore-async",
                open=False,
            )
        )
        await pool.open(wait=False)
        return pool

    async def _run(self, operation: Operation[T]) -> T:
        attempt = 0
        while True:
            try:
                return await self._run_once(operation)
            except psycopg.Error as exc:  # noqa: PERF203 - a retry loop
                attempt += 1
                if not _transient(exc, attempt):
                    raise failure(POSTGRES, operation, _explain(exc)) from exc

    async def _run_once(self, operation: Operation[T]) -> T:
        pool = await self._pool()
        async with pool.connection() as conn:
            try:
                if operation.transaction:
                    await conn.execute(self.dialect.begin)
                result = await adrive(operation.start(), lambda statement: _aexecute(conn, statement))
                if operation.transaction:
                    await conn.execute("COMMIT")
            except BaseException:
                await _aabandon(conn)
                raise
            return result

    async def create_schema(self) -> None:
        """See :meth:`PostgresStore.create_schema`."""
        await self._run(self._ops.create_schema())

    async def load(self, user_id: str) -> UserRecord | None:
        """See :meth:`PostgresStore.load`."""
        return await self._run(self._ops.load(user_id))

    async def stale_keys(self, current_key_id: str) -> list[str]:
        """See :meth:`PostgresStore.stale_keys`."""
        return await self._run(self._ops.stale_keys(current_key_id))

    async def begin(
        self,
        user_id: str,
        *,
        enrollment_id: str,
        sealed_secret: bytes,
        key_id: str,
        digits: int,
        period: int,
        algorithm: str,
        now: float,
    ) -> bool:
        """See :meth:`PostgresStore.begin`."""
        operation = self._ops.begin(
            user_id,
            enrollment_id=enrollment_id,
            sealed_secret=sealed_secret,
            key_id=key_id,
            digits=digits,
            period=period,
            algorithm=algorithm,
            now=now,
        )
        return await self._run(operation)

    async def activate(
        self,
        user_id: str,
        *,
        enrollment_id: str,
        step: int,
        recovery_params: str,
        digests: Sequence[bytes],
        now: float,
    ) -> bool:
        """See :meth:`PostgresStore.activate`."""
        return await self._run(
            self._ops.activate(
                user_id,
                enrollment_id=enrollment_id,
                step=step,
                recovery_params=recovery_params,
                digests=digests,
                now=now,
            )
        )

    async def claim_attempt(
        self,
        user_id: str,
        *,
        status: Status,
        now: float,
        throttle: Throttle,
        check: Callable[[UserRecord], None] | None = None,
    ) -> Claim:
        """See :meth:`PostgresStore.claim_attempt`."""
        return await self._run(
            self._ops.claim_attempt(user_id, status=status, now=now, throttle=throttle, check=check)
        )

    async def lock_if_exhausted(
        self, user_id: str, *, enrollment_id: str, throttle: Throttle, now: float
    ) -> bool:
        """See :meth:`PostgresStore.lock_if_exhausted`."""
        operation = self._ops.lock_if_exhausted(
            user_id, enrollment_id=enrollment_id, throttle=throttle, now=now
        )
        return await self._run(operation)

    async def accept_step(
        self, user_id: str, *, enrollment_id: str, step: int, drift: int, now: float
    ) -> bool:
        """See :meth:`PostgresStore.accept_step`."""
        operation = self._ops.accept_step(
            user_id, enrollment_id=enrollment_id, step=step, drift=drift, now=now
        )
        return await self._run(operation)

    async def consume_recovery(
        self, user_id: str, *, enrollment_id: str, index: int, digest: bytes, now: float
    ) -> int | None:
        """See :meth:`PostgresStore.consume_recovery`."""
        return await self._run(
            self._ops.consume_recovery(
                user_id, enrollment_id=enrollment_id, index=index, digest=digest, now=now
            )
        )

    async def replace_recovery(
        self, user_id: str, *, enrollment_id: str, recovery_params: str, digests: Sequence[bytes], now: float
    ) -> bool:
        """See :meth:`PostgresStore.replace_recovery`."""
        return await self._run(
            self._ops.replace_recovery(
                user_id,
                enrollment_id=enrollment_id,
                recovery_params=recovery_params,
                digests=digests,
                now=now,
            )
        )

    async def reseal(self, user_id: str, *, old: bytes, new: bytes, key_id: str, now: float) -> bool:
        """See :meth:`PostgresStore.reseal`."""
        return await self._run(self._ops.reseal(user_id, old=old, new=new, key_id=key_id, now=now))

    async def reseal_recovery(
        self,
        user_id: str,
        *,
        old_params: str,
        new_params: str,
        digests: Sequence[tuple[int, bytes, bytes]],
        now: float,
    ) -> bool:
        """See :meth:`PostgresStore.reseal_recovery`."""
        return await self._run(
            self._ops.reseal_recovery(
                user_id, old_params=old_params, new_params=new_params, digests=digests, now=now
            )
        )

    async def reset(self, user_id: str) -> bool:
        """See :meth:`PostgresStore.reset`."""
        return await self._run(self._ops.reset(user_id))

    async def close(self) -> None:
        """Close the pool's connections. The store is unusable afterwards."""
        self._closed = True
        pool, self._pool_object = self._pool_object, None
        if pool is not None:
            await pool.close()


async def _aexecute(conn: psycopg.AsyncConnection[Row], statement: Stmt) -> list[Row]:
    if statement.many:
        async with conn.cursor() as cursor:
            await cursor.executemany(statement.sql, statement.params)
        return []
    cursor = await conn.execute(statement.sql, statement.params or None)
    return await cursor.fetchall() if cursor.description is not None else []


async def _aabandon(conn: psycopg.AsyncConnection[Row]) -> None:
    """The async twin of :func:`_abandon`."""
    with contextlib.suppress(psycopg.Error):
        if _in_transaction(conn):
            await conn.execute("ROLLBACK")
    if _needs_closing(conn) or _in_transaction(conn):
        await conn.close()
