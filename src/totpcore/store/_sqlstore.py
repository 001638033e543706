"""The Store operations written once for both SQL databases and both faces (blocking and async).

Each operation is a *script*: a generator that yields the statements to run (``Stmt``)
and receives their rows, deciding everything — which statements, in which order, in
one transaction or not, what the rows mean — without doing any I/O itself. A driver
runs it: :class:`SqlStore` on a blocking connection (SQLite, PostgreSQL), and the async
PostgreSQL store on an ``AsyncConnection``. So a reviewer reads the logic once, and the
two faces cannot drift apart. See ``_sql.py`` for the statements and the lock order.

Rows are parsed here too. A column the service cannot use (a wrong type or value,
written by hand or by a broken tool) never escapes as a driver or ``ValueError``: the
columns every operation needs raise :class:`~totpcore.errors.RecordError`; the columns
of one factor only (the app secret, the recovery set) are reported in
``UserRecord.damaged``, so the other factor keeps working.
"""

from __future__ import annotations

import abc
import math
import time
from collections.abc import Callable, Generator, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any, ClassVar, Final, Generic, TypeVar

from totpcore import recovery
from totpcore._checks import check_counter
from totpcore._drive import drive
from totpcore.errors import RecordError, StoreError
from totpcore.store import _sql
from totpcore.store._sql import Dialect, Row
from totpcore.store.base import SCHEMA_VERSION, Claim, Status, UserRecord, decide_claim
from totpcore.throttle import Throttle

__all__ = [
    "UNSEALED_RECOVERY",
    "Operation",
    "SqlOperations",
    "SqlStore",
    "Stmt",
    "failure",
    "parse_record",
]

C = TypeVar("C")
T = TypeVar("T")

#: The LIKE pattern of recovery sets whose digests are not sealed yet (``recovery.SCHEME``).
UNSEALED_RECOVERY: Final = f"{recovery.UNSEALED_PREFIX}%"


@dataclass(frozen=True, slots=True)
class Stmt:
    """One statement for a driver: the SQL (in the driver's placeholder style) and its parameters.

    With *many*, *params* is a sequence of parameter sets and the statement runs once per set.
    """

    sql: str
    params: Mapping[str, object] | Sequence[Mapping[str, object]]
    many: bool = False


#: A script yields statements, receives each one's rows, and returns the operation's result.
Script = Generator[Stmt, list[Row], T]


@dataclass(frozen=True, slots=True)
class Operation(Generic[T]):
    """A named script factory, and whether the script runs in one transaction.

    ``start()`` makes a fresh script, so a driver can run an operation again after a
    transient failure (SQLite busy, PostgreSQL serialisation failure).
    """

    name: str
    start: Callable[[], Script[T]]
    transaction: bool = False


# ------------------------------------------------------------------ rows


def _fail(column: str) -> RecordError:
    return RecordError(f"the stored {column!r} of this user cannot be used (altered or corrupt)")


def _is_number(value: object) -> bool:
    return type(value) in (int, float) and math.isfinite(value)  # type: ignore[arg-type]


def _status(value: object) -> Status:
    if value in (Status.PENDING.value, Status.ENABLED.value, Status.LOCKED.value):
        return Status(value)
    raise _fail("status")


def _core(head: Row, name: str, index: int, accept: Callable[[object], bool]) -> Any:  # noqa: ANN401
    value = head[index]
    if not accept(value):
        raise _fail(name)
    return value


def parse_record(rows: list[Row], dialect: Dialect) -> UserRecord | None:
    """The user's record from the rows of ``_sql.LOAD`` (one per recovery code, or one).

    Raises:
        RecordError: a column every operation needs (status, enrollment id, failure
            count, timestamps) cannot be read.
    """
    if not rows:
        return None
    head = rows[0]
    damaged: set[str] = set()

    def factor(name: str, index: int, accept: Callable[[object], bool], placeholder: object) -> Any:  # noqa: ANN401
        value = head[index]
        if accept(value):
            return value
        damaged.add(name)
        return placeholder

    try:
        last_step = dialect.decode_step(head[8])
        if last_step is not None:
            check_counter(last_step, "last_step")  # 0 to 2**64 - 1, or a ConfigurationError
    except (TypeError, ValueError):
        damaged.add("last_step")
        last_step = None
    pairs = tuple((row[16], row[17]) for row in rows if row[16] is not None or row[17] is not None)
    if not all(type(index) is int and type(digest) is bytes for index, digest in pairs):
        damaged.add("recovery")
        pairs = ()
    return UserRecord(
        user_id=_core(head, "user_id", 0, lambda v: isinstance(v, str)),
        status=_status(head[1]),
        enrollment_id=_core(head, "enrollment_id", 2, lambda v: isinstance(v, str) and bool(v)),
        sealed_secret=factor("sealed_secret", 3, lambda v: type(v) is bytes, b""),
        key_id=factor("key_id", 4, lambda v: isinstance(v, str), ""),
        digits=factor("digits", 5, lambda v: type(v) is int, 0),
        period=factor("period", 6, lambda v: type(v) is int, 0),
        algorithm=factor("algorithm", 7, lambda v: isinstance(v, str), ""),
        last_step=last_step,
        drift=factor("drift", 9, lambda v: type(v) is int, 0),
        failures=_core(head, "failures", 10, lambda v: type(v) is int and v >= 0),
        next_attempt_at=float(_core(head, "next_attempt_at", 11, _is_number)),
        recovery_params=factor("recovery_params", 12, lambda v: v is None or isinstance(v, str), None),
        recovery=pairs,
        created_at=float(_core(head, "created_at", 13, _is_number)),
        updated_at=float(_core(head, "updated_at", 14, _is_number)),
        enabled_at=None if head[15] is None else float(_core(head, "enabled_at", 15, _is_number)),
        damaged=frozenset(damaged),
    )


# ------------------------------------------------------------------ operations


class SqlOperations:
    """Every Store operation as a script for one dialect. Pure: no connection, no I/O."""

    def __init__(self, dialect: Dialect) -> None:
        self.dialect = dialect

    def _stmt(self, statement: str, **params: object) -> Stmt:
        return Stmt(self.dialect.sql(statement), params)

    def _many(self, statement: str, params: Sequence[Mapping[str, object]]) -> Stmt:
        return Stmt(self.dialect.sql(statement), params, many=True)

    def _single(self, name: str, statement: str, **params: object) -> Operation[bool]:
        """An operation of one statement (its own transaction): whether it returned a row."""

        def script() -> Script[bool]:
            return bool((yield self._stmt(statement, **params)))

        return Operation(name, script)

    def create_schema(self) -> Operation[None]:
        """Create (or upgrade) the tables and record the version; refuse a newer database."""
        dialect = self.dialect

        def script() -> Script[None]:
            if dialect.schema_lock is not None:
                yield self._stmt(dialect.schema_lock)
            version_table, *tables = dialect.ddl
            yield self._stmt(version_table)
            found = (yield self._stmt(_sql.SCHEMA_VERSION_NOW))[0][0]
            if found is not None and found > SCHEMA_VERSION:
                # Raised inside the transaction: it is rolled back, nothing is written.
                raise StoreError(
                    f"the database has schema version {found}; this totpcore knows up to {SCHEMA_VERSION}"
                )
            for statement in tables:
                yield self._stmt(statement)
            if found == 1:
                for statement in dialect.upgrade_2:
                    yield self._stmt(statement)
            yield self._stmt(_sql.RECORD_VERSION, version=SCHEMA_VERSION)

        return Operation("create_schema", script, transaction=True)

    def load(self, user_id: str) -> Operation[UserRecord | None]:
        """One statement: the user row and its recovery codes, one snapshot."""

        def script() -> Script[UserRecord | None]:
            return parse_record((yield self._stmt(_sql.LOAD, user_id=user_id)), self.dialect)

        return Operation("load", script)

    def stale_keys(self, current_key_id: str) -> Operation[list[str]]:
        """The users to re-seal, sorted."""

        def script() -> Script[list[str]]:
            rows = yield self._stmt(_sql.STALE_KEYS, key_id=current_key_id, legacy=UNSEALED_RECOVERY)
            return [row[0] for row in rows]

        return Operation("stale_keys", script)

    def begin(self, user_id: str, **params: object) -> Operation[bool]:
        """One statement: insert, or replace a PENDING record."""
        return self._single("begin", _sql.BEGIN, user_id=user_id, **params)

    def activate(
        self,
        user_id: str,
        *,
        enrollment_id: str,
        step: int,
        recovery_params: str,
        digests: Sequence[bytes],
        now: float,
    ) -> Operation[bool]:
        """One transaction: PENDING -> ENABLED for this enrolment, with its recovery set."""
        check_counter(step, "step")

        def script() -> Script[bool]:
            activated = yield self._stmt(
                _sql.ACTIVATE,
                user_id=user_id,
                enrollment_id=enrollment_id,
                step=self.dialect.encode_step(step),
                recovery_params=recovery_params,
                now=now,
            )
            if activated:
                yield self._stmt(_sql.DELETE_RECOVERY, user_id=user_id)
                yield self._many(_sql.INSERT_CODE, _codes(user_id, digests))
            return bool(activated)

        return Operation("activate", script, transaction=True)

    def claim_attempt(
        self,
        user_id: str,
        *,
        status: Status,
        now: float,
        throttle: Throttle,
        check: Callable[[UserRecord], None] | None,
    ) -> Operation[Claim]:
        """One transaction, the user row locked: decide_claim, then write back what it decided."""

        def script() -> Script[Claim]:
            record = parse_record((yield self._stmt(_sql.LOAD_FOR_UPDATE, user_id=user_id)), self.dialect)
            claim = decide_claim(record, status=status, now=now, throttle=throttle, check=check)
            if claim.write and claim.record is not None:
                yield self._stmt(
                    _sql.WRITE_CLAIM,
                    user_id=user_id,
                    status=claim.record.status.value,
                    failures=claim.record.failures,
                    next_attempt_at=claim.record.next_attempt_at,
                    now=now,
                )
            return claim

        return Operation("claim_attempt", script, transaction=True)

    def lock_if_exhausted(
        self, user_id: str, *, enrollment_id: str, throttle: Throttle, now: float
    ) -> Operation[bool]:
        """One statement; ``Throttle.locks_at(n)`` is ``n >= lockout``, evaluated on the row."""
        return self._single(
            "lock_if_exhausted",
            _sql.LOCK_IF_EXHAUSTED,
            user_id=user_id,
            enrollment_id=enrollment_id,
            lockout=throttle.lockout,
            now=now,
        )

    def accept_step(
        self, user_id: str, *, enrollment_id: str, step: int, drift: int, now: float
    ) -> Operation[bool]:
        """One statement: the replay guard."""
        encoded = self.dialect.encode_step(check_counter(step, "step"))
        return self._single(
            "accept_step",
            _sql.ACCEPT_STEP,
            user_id=user_id,
            enrollment_id=enrollment_id,
            step=encoded,
            drift=drift,
            now=now,
        )

    def consume_recovery(
        self, user_id: str, *, enrollment_id: str, index: int, digest: bytes, now: float
    ) -> Operation[int | None]:
        """One transaction: lock the enrolment's row, delete the code (one row), clear failures."""

        def script() -> Script[int | None]:
            if not (yield self._stmt(_sql.LOCK_ENABLED, user_id=user_id, enrollment_id=enrollment_id)):
                return None
            if not (yield self._stmt(_sql.DELETE_CODE, user_id=user_id, idx=index, digest=digest)):
                return None
            yield self._stmt(_sql.CLEAR_FAILURES, user_id=user_id, now=now)
            return int((yield self._stmt(_sql.COUNT_RECOVERY, user_id=user_id))[0][0])

        return Operation("consume_recovery", script, transaction=True)

    def replace_recovery(
        self, user_id: str, *, enrollment_id: str, recovery_params: str, digests: Sequence[bytes], now: float
    ) -> Operation[bool]:
        """One transaction: new parameters (on this enrolment's row), then the new codes."""

        def script() -> Script[bool]:
            updated = yield self._stmt(
                _sql.SET_RECOVERY_PARAMS,
                user_id=user_id,
                enrollment_id=enrollment_id,
                recovery_params=recovery_params,
                now=now,
            )
            if not updated:
                return False
            yield self._stmt(_sql.DELETE_RECOVERY, user_id=user_id)
            yield self._many(_sql.INSERT_CODE, _codes(user_id, digests))
            return True

        return Operation("replace_recovery", script, transaction=True)

    def reseal(self, user_id: str, *, old: bytes, new: bytes, key_id: str, now: float) -> Operation[bool]:
        """One statement: swap the sealed secret if it is still *old*."""
        return self._single("reseal", _sql.RESEAL, user_id=user_id, old=old, new=new, key_id=key_id, now=now)

    def reseal_recovery(
        self,
        user_id: str,
        *,
        old_params: str,
        new_params: str,
        digests: Sequence[tuple[int, bytes, bytes]],
        now: float,
    ) -> Operation[bool]:
        """One transaction: swap the parameters if still *old_params*, then each digest still unused.

        Returns whether anything changed (the parameters, or at least one digest).
        """

        def script() -> Script[bool]:
            swapped = yield self._stmt(
                _sql.SWAP_RECOVERY_PARAMS,
                user_id=user_id,
                old_params=old_params,
                new_params=new_params,
                now=now,
            )
            if not swapped:
                return False
            changed = old_params != new_params
            for index, old, new in digests:  # at most 20 codes, in a rare operation
                changed |= bool(
                    (yield self._stmt(_sql.RESEAL_CODE, user_id=user_id, idx=index, old=old, new=new))
                )
            return changed

        return Operation("reseal_recovery", script, transaction=True)

    def reset(self, user_id: str) -> Operation[bool]:
        """One transaction: delete the user row and its codes."""

        def script() -> Script[bool]:
            existed = bool((yield self._stmt(_sql.DELETE_USER, user_id=user_id)))
            # ON DELETE CASCADE already did this; kept so a connection without foreign key
            # enforcement cannot leave orphans behind.
            yield self._stmt(_sql.DELETE_RECOVERY, user_id=user_id)
            return existed

        return Operation("reset", script, transaction=True)


def _codes(user_id: str, digests: Sequence[bytes]) -> list[dict[str, object]]:
    return [{"user_id": user_id, "idx": i, "digest": bytes(digest)} for i, digest in enumerate(digests)]


def failure(dialect: Dialect, operation: Operation[Any], explanation: str) -> StoreError:
    """The StoreError of an operation that failed for good (both drivers word it alike).

    *explanation* names the driver error without repeating anything secret.
    """
    return StoreError(f"{dialect.name} store: {operation.name} failed: {explanation}")


# ------------------------------------------------------------------ the blocking driver


class SqlStore(abc.ABC, Generic[C]):
    """The blocking Store over SQL: each method runs one :class:`Operation` on a connection.

    A subclass supplies connections (:meth:`_connection`) and runs statements on them;
    errors of the driver become :class:`StoreError` naming the operation.
    """

    dialect: ClassVar[Dialect]
    #: The driver's exception base classes: each becomes a StoreError.
    driver_errors: ClassVar[tuple[type[Exception], ...]]

    def __init__(self) -> None:
        self._ops = SqlOperations(self.dialect)

    # ------------------------------------------------------------ driver hooks

    @abc.abstractmethod
    def _connection(self, operation: Operation[Any]) -> AbstractContextManager[C]:
        """A connection for one run of *operation*, inside its transaction when it has one.

        The context manager commits on success and rolls back (or throws the connection
        away) on any exception, which it lets through unchanged.
        """

    @abc.abstractmethod
    def _execute(self, conn: C, statement: Stmt) -> list[Row]:
        """Run one statement and return its rows."""

    @abc.abstractmethod
    def _explain(self, exc: Exception) -> str:
        """A short, secret-free description of a driver error for the StoreError message."""

    @abc.abstractmethod
    def _retry(self, exc: Exception, attempt: int, started: float) -> bool:
        """Whether to run the operation again after *exc* (transient), having paused if needed.

        *attempt* counts the failed runs so far (1, 2, ...); *started* is the
        :func:`time.monotonic` time of the first run, for a deadline.
        """

    # ------------------------------------------------------------ running

    def _run(self, operation: Operation[T]) -> T:
        started = time.monotonic()
        attempt = 0
        while True:
            try:
                with self._connection(operation) as conn:
                    return drive(operation.start(), lambda statement: self._execute(conn, statement))
            except self.driver_errors as exc:  # noqa: PERF203 - a retry loop
                attempt += 1
                if not self._retry(exc, attempt, started):
                    raise failure(self.dialect, operation, self._explain(exc)) from exc

    # ------------------------------------------------------------ the Store protocol

    def create_schema(self) -> None:
        """Create the tables if missing, upgrade a version-1 database, record :data:`SCHEMA_VERSION`.

        Idempotent, and safe to call from many app servers at once.

        Raises:
            StoreError: the database failed, or it holds a newer schema than this
                version of totpcore knows.
        """
        self._run(self._ops.create_schema())

    def load(self, user_id: str) -> UserRecord | None:
        """Return the user's record, or ``None`` when there is none.

        Raises:
            RecordError: the row cannot be read.
            StoreError: the database failed.
        """
        return self._run(self._ops.load(user_id))

    def stale_keys(self, current_key_id: str) -> list[str]:
        """Return the users to re-seal under *current_key_id*, sorted.

        Raises:
            StoreError: the database failed.
        """
        return self._run(self._ops.stale_keys(current_key_id))

    def begin(
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
        """Create or replace a PENDING record; ``False`` when ENABLED or LOCKED (one statement).

        Raises:
            StoreError: the database failed.
        """
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
        return self._run(operation)

    def activate(
        self,
        user_id: str,
        *,
        enrollment_id: str,
        step: int,
        recovery_params: str,
        digests: Sequence[bytes],
        now: float,
    ) -> bool:
        """PENDING -> ENABLED for this enrolment, storing the recovery set (one transaction).

        Raises:
            ConfigurationError: *step* is outside 0 to 2**64 - 1.
            StoreError: the database failed.
        """
        return self._run(
            self._ops.activate(
                user_id,
                enrollment_id=enrollment_id,
                step=step,
                recovery_params=recovery_params,
                digests=digests,
                now=now,
            )
        )

    def claim_attempt(
        self,
        user_id: str,
        *,
        status: Status,
        now: float,
        throttle: Throttle,
        check: Callable[[UserRecord], None] | None = None,
    ) -> Claim:
        """Count an attempt before it is evaluated, unless refused (one transaction, row locked).

        Raises:
            RecordError: the row cannot be read, or *check* refused it; nothing was written.
            StoreError: the database failed; the caller must refuse the attempt.
        """
        return self._run(
            self._ops.claim_attempt(user_id, status=status, now=now, throttle=throttle, check=check)
        )

    def lock_if_exhausted(self, user_id: str, *, enrollment_id: str, throttle: Throttle, now: float) -> bool:
        """ENABLED -> LOCKED once ``throttle.locks_at(failures)``, for this enrolment (one statement).

        Raises:
            StoreError: the database failed.
        """
        operation = self._ops.lock_if_exhausted(
            user_id, enrollment_id=enrollment_id, throttle=throttle, now=now
        )
        return self._run(operation)

    def accept_step(self, user_id: str, *, enrollment_id: str, step: int, drift: int, now: float) -> bool:
        """Record an accepted step of this ENABLED enrolment if later than ``last_step`` (one statement).

        Raises:
            ConfigurationError: *step* is outside 0 to 2**64 - 1.
            StoreError: the database failed; the code must not be accepted.
        """
        operation = self._ops.accept_step(
            user_id, enrollment_id=enrollment_id, step=step, drift=drift, now=now
        )
        return self._run(operation)

    def consume_recovery(
        self, user_id: str, *, enrollment_id: str, index: int, digest: bytes, now: float
    ) -> int | None:
        """Delete one unused recovery code of this ENABLED enrolment, once (one transaction).

        Raises:
            StoreError: the database failed; the code must not be accepted.
        """
        return self._run(
            self._ops.consume_recovery(
                user_id, enrollment_id=enrollment_id, index=index, digest=digest, now=now
            )
        )

    def replace_recovery(
        self, user_id: str, *, enrollment_id: str, recovery_params: str, digests: Sequence[bytes], now: float
    ) -> bool:
        """Replace the recovery set of this ENABLED enrolment (one transaction).

        Raises:
            StoreError: the database failed.
        """
        return self._run(
            self._ops.replace_recovery(
                user_id,
                enrollment_id=enrollment_id,
                recovery_params=recovery_params,
                digests=digests,
                now=now,
            )
        )

    def reseal(self, user_id: str, *, old: bytes, new: bytes, key_id: str, now: float) -> bool:
        """Swap the sealed secret if it is still *old* (one statement).

        Raises:
            StoreError: the database failed.
        """
        return self._run(self._ops.reseal(user_id, old=old, new=new, key_id=key_id, now=now))

    def reseal_recovery(
        self,
        user_id: str,
        *,
        old_params: str,
        new_params: str,
        digests: Sequence[tuple[int, bytes, bytes]],
        now: float,
    ) -> bool:
        """Rewrite the stored digests if the set is still *old_params* (one transaction).

        Raises:
            StoreError: the database failed.
        """
        return self._run(
            self._ops.reseal_recovery(
                user_id, old_params=old_params, new_params=new_params, digests=digests, now=now
            )
        )

    def reset(self, user_id: str) -> bool:
        """Delete the user's record and recovery codes (one transaction).

        Raises:
            StoreError: the database failed.
        """
        return self._run(self._ops.reset(user_id))

    @abc.abstractmethod
    def close(self) -> None:
        """Close every connection. The store is unusable afterwards."""
