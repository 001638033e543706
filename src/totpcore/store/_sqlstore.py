"""The Store operations written once for both SQL databases.

A subclass supplies a connection (one per thread, opened lazily) and runs a statement on
it; this class holds every decision about *what* runs and in which transaction, so a
reviewer reads the logic once. See ``_sql.py`` for the statements and the lock order.

Connections: each thread gets its own, kept in a :class:`threading.local` and closed
when the thread ends (a finaliser) or when :meth:`close` is called. A process that
inherits a connection through ``fork()`` never uses, closes or frees it: it opens its own.
After any database error the thread's connection is discarded (closing it rolls back
whatever was open), so a failed transaction can never leak into the next operation.
"""

from __future__ import annotations

import abc
import contextlib
import threading
import weakref
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from os import getpid
from typing import ClassVar, Generic, TypeVar

from totpcore._checks import check_counter
from totpcore.errors import StoreError
from totpcore.store import _sql
from totpcore.store._sql import Dialect, Row
from totpcore.store.base import SCHEMA_VERSION, Claim, ClaimResult, Status, UserRecord, decide_claim
from totpcore.throttle import Throttle

__all__ = ["SqlStore"]

C = TypeVar("C")
T = TypeVar("T")

# Connections inherited through fork(): kept referenced so the child never frees (and so
# closes) a handle that belongs to its parent.
_INHERITED: list[object] = []


class _Slot:
    """One thread's connection, tagged with the process that opened it.

    The finaliser closes the connection when the slot dies with its thread, at
    :meth:`SqlStore.close`, after an error, or at interpreter exit, whichever is first.
    """

    __slots__ = ("__weakref__", "conn", "finalizer", "pid")

    def __init__(self, conn: object, pid: int, close: Callable[[object], None]) -> None:
        self.conn = conn
        self.pid = pid
        self.finalizer = weakref.finalize(self, _release, close, conn, pid)


class _Session(Generic[C]):
    """Runs statements on one connection for the duration of one operation."""

    __slots__ = ("_conn", "_dialect", "_execute", "_execute_many")

    def __init__(self, store: SqlStore[C], conn: C) -> None:
        self._conn = conn
        self._dialect = store.dialect
        self._execute = store._execute  # noqa: SLF001 - the session is part of the store
        self._execute_many = store._execute_many  # noqa: SLF001

    def rows(self, statement: str, **params: object) -> list[Row]:
        """Run *statement* and return its rows (none for a statement without a result)."""
        return self._execute(self._conn, self._dialect.sql(statement), params)

    def many(self, statement: str, params: Sequence[Mapping[str, object]]) -> None:
        """Run *statement* once per parameter set."""
        self._execute_many(self._conn, self._dialect.sql(statement), params)


class SqlStore(abc.ABC, Generic[C]):
    """The shared implementation of SQLiteStore and PostgresStore."""

    dialect: ClassVar[Dialect]
    #: The driver's exception base classes: each becomes a StoreError.
    driver_errors: ClassVar[tuple[type[Exception], ...]]

    def __init__(self) -> None:
        self._local = threading.local()
        self._lock = threading.Lock()
        self._finalizers: list[weakref.finalize[..., _Slot]] = []
        self._closed = False

    # ------------------------------------------------------------ driver hooks

    @abc.abstractmethod
    def _open(self) -> C:
        """Open and configure a new connection (driver errors propagate)."""

    @abc.abstractmethod
    def _execute(self, conn: C, sql: str, params: Mapping[str, object]) -> list[Row]:
        """Run one statement and return its rows."""

    @abc.abstractmethod
    def _execute_many(self, conn: C, sql: str, params: Sequence[Mapping[str, object]]) -> None:
        """Run one statement per parameter set."""

    @staticmethod
    @abc.abstractmethod
    def _close_connection(conn: object) -> None:
        """Close *conn*, ignoring errors: it is being thrown away."""

    @abc.abstractmethod
    def _explain(self, exc: Exception) -> str:
        """A short, secret-free description of a driver error for the StoreError message."""

    # ------------------------------------------------------------ connections

    def _connection(self) -> C:
        if self._closed:
            raise StoreError("the store is closed")
        pid = getpid()
        slot: _Slot | None = getattr(self._local, "slot", None)
        if slot is not None and slot.pid == pid:
            return slot.conn  # type: ignore[return-value]  # C, stored untyped in the slot
        # A slot inherited through fork() is dropped here; its finaliser sees the other
        # pid and keeps the parent's connection untouched.
        conn = self._open()
        slot = _Slot(conn, pid, self._close_connection)
        with self._lock:
            self._finalizers = [f for f in self._finalizers if f.alive]
            self._finalizers.append(slot.finalizer)
        self._local.slot = slot
        return conn

    def _discard(self) -> None:
        """Close this thread's connection: the next operation opens a fresh one."""
        slot: _Slot | None = getattr(self._local, "slot", None)
        self._local.slot = None
        if slot is not None:
            slot.finalizer()

    @contextmanager
    def _session(self, operation: str, *, transaction: bool) -> Iterator[_Session[C]]:
        """Run one operation; in a transaction when *transaction*; errors -> StoreError."""
        try:
            conn = self._connection()
            if transaction:
                self._execute(conn, self.dialect.begin, {})
            yield _Session(self, conn)
            if transaction:
                self._execute(conn, "COMMIT", {})
        except self.driver_errors as exc:
            self._discard()
            raise StoreError(f"{self.dialect.name} store: {operation} failed: {self._explain(exc)}") from exc
        except BaseException:
            # A bug, or an interrupt mid-statement: closing the connection rolls back
            # whatever was open and leaves no half-read result behind.
            self._discard()
            raise

    def _run(self, operation: str, work: Callable[[_Session[C]], T], *, transaction: bool = False) -> T:
        with self._session(operation, transaction=transaction) as db:
            return work(db)

    def close(self) -> None:
        """Close every connection this process opened. The store is unusable afterwards."""
        self._closed = True
        with self._lock:
            finalizers, self._finalizers = self._finalizers, []
        for finalizer in finalizers:
            finalizer()

    # ------------------------------------------------------------ schema

    def create_schema(self) -> None:
        """Create the tables if missing and record :data:`SCHEMA_VERSION`. Idempotent.

        Safe to call from many app servers at once.

        Raises:
            StoreError: the database failed, or it holds a newer schema than this
                version of totpcore knows.
        """

        def work(db: _Session[C]) -> None:
            if self.dialect.schema_lock is not None:
                db.rows(self.dialect.schema_lock)
            version_table, *tables = self.dialect.ddl
            db.rows(version_table)
            found = db.rows(_sql.SCHEMA_VERSION_NOW)[0][0]
            if found is not None and found > SCHEMA_VERSION:
                # Raised inside the transaction: it is rolled back, nothing is written.
                raise StoreError(
                    f"the database has schema version {found}; this totpcore knows up to {SCHEMA_VERSION}"
                )
            for statement in tables:
                db.rows(statement)
            db.rows(_sql.RECORD_VERSION, version=SCHEMA_VERSION)

        self._run("create_schema", work, transaction=True)

    # ------------------------------------------------------------ reads

    def _record(self, rows: list[Row]) -> UserRecord | None:
        if not rows:
            return None
        head = rows[0]
        return UserRecord(
            user_id=head[0],
            status=Status(head[1]),
            sealed_secret=bytes(head[2]),
            key_id=head[3],
            digits=head[4],
            period=head[5],
            algorithm=head[6],
            last_step=self.dialect.decode_step(head[7]),
            drift=head[8],
            failures=head[9],
            next_attempt_at=float(head[10]),
            recovery_params=head[11],
            recovery=tuple((int(row[15]), bytes(row[16])) for row in rows if row[15] is not None),
            created_at=float(head[12]),
            updated_at=float(head[13]),
            enabled_at=None if head[14] is None else float(head[14]),
        )

    def load(self, user_id: str) -> UserRecord | None:
        """Return the user's record, or ``None`` when there is none.

        Raises:
            StoreError: the database failed.
        """
        return self._run("load", lambda db: self._record(db.rows(_sql.LOAD, user_id=user_id)))

    def stale_keys(self, current_key_id: str) -> list[str]:
        """Return the users whose secret is sealed under another key, sorted.

        Raises:
            StoreError: the database failed.
        """
        rows = self._run("stale_keys", lambda db: db.rows(_sql.STALE_KEYS, key_id=current_key_id))
        return [row[0] for row in rows]

    # ------------------------------------------------------------ writes

    def begin(
        self,
        user_id: str,
        *,
        sealed_secret: bytes,
        key_id: str,
        digits: int,
        period: int,
        algorithm: str,
        now: float,
    ) -> bool:
        """Create or replace a PENDING record; ``False`` when ENABLED or LOCKED (one statement).

        Raises:
            StoreError: the database failed.
        """
        params = {
            "user_id": user_id,
            "sealed_secret": sealed_secret,
            "key_id": key_id,
            "digits": digits,
            "period": period,
            "algorithm": algorithm,
            "now": now,
        }
        return bool(self._run("begin", lambda db: db.rows(_sql.BEGIN, **params)))

    def activate(
        self,
        user_id: str,
        *,
        sealed_secret: bytes,
        step: int,
        recovery_params: str,
        digests: Sequence[bytes],
        now: float,
    ) -> bool:
        """PENDING -> ENABLED with this sealed secret, storing the recovery set (one transaction).

        Raises:
            ConfigurationError: *step* is outside 0 to 2**64 - 1.
            StoreError: the database failed.
        """
        check_counter(step, "step")

        def work(db: _Session[C]) -> bool:
            activated = db.rows(
                _sql.ACTIVATE,
                user_id=user_id,
                sealed_secret=sealed_secret,
                step=self.dialect.encode_step(step),
                recovery_params=recovery_params,
                now=now,
            )
            if activated:
                db.rows(_sql.DELETE_RECOVERY, user_id=user_id)
                db.many(_sql.INSERT_CODE, _codes(user_id, digests))
            return bool(activated)

        return self._run("activate", work, transaction=True)

    def claim_attempt(self, user_id: str, *, now: float, throttle: Throttle) -> Claim:
        """Count an attempt before it is evaluated, unless refused (one transaction, row locked).

        Raises:
            StoreError: the database failed; the caller must refuse the attempt.
        """

        def work(db: _Session[C]) -> Claim:
            record = self._record(db.rows(_sql.LOAD_FOR_UPDATE, user_id=user_id))
            claim = decide_claim(record, now=now, throttle=throttle)
            if claim.result is ClaimResult.CLAIMED and claim.record is not None:
                db.rows(
                    _sql.RECORD_ATTEMPT,
                    user_id=user_id,
                    failures=claim.record.failures,
                    next_attempt_at=claim.record.next_attempt_at,
                    now=now,
                )
            return claim

        return self._run("claim_attempt", work, transaction=True)

    def lock_if_exhausted(self, user_id: str, *, throttle: Throttle, now: float) -> bool:
        """ENABLED -> LOCKED once ``throttle.locks_at(failures)`` (one statement).

        Raises:
            StoreError: the database failed.
        """
        # Throttle.locks_at(n) is n >= lockout; the database evaluates it on the row itself.
        rows = self._run(
            "lock_if_exhausted",
            lambda db: db.rows(_sql.LOCK_IF_EXHAUSTED, user_id=user_id, lockout=throttle.lockout, now=now),
        )
        return bool(rows)

    def accept_step(self, user_id: str, *, step: int, drift: int, now: float) -> bool:
        """Record an accepted step if ENABLED and later than ``last_step`` (one statement).

        Raises:
            ConfigurationError: *step* is outside 0 to 2**64 - 1.
            StoreError: the database failed; the code must not be accepted.
        """
        encoded = self.dialect.encode_step(check_counter(step, "step"))
        rows = self._run(
            "accept_step",
            lambda db: db.rows(_sql.ACCEPT_STEP, user_id=user_id, step=encoded, drift=drift, now=now),
        )
        return bool(rows)

    def consume_recovery(self, user_id: str, *, index: int, digest: bytes, now: float) -> int | None:
        """Delete one unused recovery code of an ENABLED user, once (one transaction).

        Raises:
            StoreError: the database failed; the code must not be accepted.
        """

        def work(db: _Session[C]) -> int | None:
            if not db.rows(_sql.LOCK_ENABLED, user_id=user_id):
                return None
            if not db.rows(_sql.DELETE_CODE, user_id=user_id, idx=index, digest=digest):
                return None
            db.rows(_sql.CLEAR_FAILURES, user_id=user_id, now=now)
            return int(db.rows(_sql.COUNT_RECOVERY, user_id=user_id)[0][0])

        return self._run("consume_recovery", work, transaction=True)

    def replace_recovery(
        self, user_id: str, *, recovery_params: str, digests: Sequence[bytes], now: float
    ) -> bool:
        """Replace the recovery set of an ENABLED user (one transaction).

        Raises:
            StoreError: the database failed.
        """

        def work(db: _Session[C]) -> bool:
            params = {"user_id": user_id, "recovery_params": recovery_params, "now": now}
            if not db.rows(_sql.SET_RECOVERY_PARAMS, **params):
                return False
            db.rows(_sql.DELETE_RECOVERY, user_id=user_id)
            db.many(_sql.INSERT_CODE, _codes(user_id, digests))
            return True

        return self._run("replace_recovery", work, transaction=True)

    def reseal(self, user_id: str, *, old: bytes, new: bytes, key_id: str, now: float) -> bool:
        """Swap the sealed secret if it is still *old* (one statement).

        Raises:
            StoreError: the database failed.
        """
        rows = self._run(
            "reseal",
            lambda db: db.rows(_sql.RESEAL, user_id=user_id, old=old, new=new, key_id=key_id, now=now),
        )
        return bool(rows)

    def reset(self, user_id: str) -> bool:
        """Delete the user's record and recovery codes (one transaction).

        Raises:
            StoreError: the database failed.
        """

        def work(db: _Session[C]) -> bool:
            existed = bool(db.rows(_sql.DELETE_USER, user_id=user_id))
            # ON DELETE CASCADE already did this; kept so a connection without foreign key
            # enforcement cannot leave orphans behind.
            db.rows(_sql.DELETE_RECOVERY, user_id=user_id)
            return existed

        return self._run("reset", work, transaction=True)


def _codes(user_id: str, digests: Sequence[bytes]) -> list[dict[str, object]]:
    return [{"user_id": user_id, "idx": i, "digest": bytes(digest)} for i, digest in enumerate(digests)]


def _release(close: Callable[[object], None], conn: object, pid: int) -> None:
    """Finaliser of a thread's connection: close it, unless this process inherited it.

    A failure to close is ignored: the connection is being thrown away, often because of
    an earlier error that must be the one reported.
    """
    if getpid() == pid:
        with contextlib.suppress(Exception):
            close(conn)
    else:
        _INHERITED.append(conn)
