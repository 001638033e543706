"""Store helpers shared by the store tests and by the child processes they spawn.

Child processes are started with the ``spawn`` method, so everything they run lives in
this importable module (``tests/`` is on ``sys.path``), never in a test module.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import secrets
import sqlite3
import threading
import urllib.parse
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from multiprocessing.connection import Connection
from multiprocessing.synchronize import Barrier
from typing import TypeVar

import psycopg
import pytest
from psycopg import conninfo, sql

from totpcore.store import (
    AsyncPostgresStore,
    AsyncStore,
    AsyncStoreAdapter,
    Claim,
    MemoryStore,
    PostgresStore,
    SQLiteStore,
    Status,
    Store,
)
from totpcore.throttle import Throttle

T = TypeVar("T")

SECRET = b"\x00sealed\xffsecret\x00"
#: The enrolment id the helpers give every user.
EID = "e" * 32
DIGESTS = tuple(bytes([i]) * 32 for i in range(5))
CONFIRM_STEP = 100
BARRIER_TIMEOUT = 60.0
#: No delay and no lock within the first 99 failures: every claim is counted.
UNTHROTTLED = Throttle(free_attempts=99, lockout=100)


@dataclass(frozen=True)
class Backend:
    """How to open one test database: a kind and a path or DSN (picklable for children)."""

    kind: str  # "memory", "sqlite", "postgres" or "pgbouncer" (PostgreSQL through PgBouncer)
    target: str

    @property
    def sql(self) -> bool:
        """Whether the backend is a SQL database shared across processes."""
        return self.kind != "memory"

    def open(self, *, create: bool = True) -> Store:
        """Open a new store on the database (a MemoryStore is always a new, empty one)."""
        store: Store
        if self.kind == "memory":
            store = MemoryStore()
        elif self.kind == "sqlite":
            store = SQLiteStore(self.target)
        else:
            store = PostgresStore(self.target)
        if create:
            store.create_schema()
        return store

    def open_async(self) -> AsyncStore:
        """Open a new async store on the database, schema created: PostgreSQL's own, else an adapter."""
        store = self.open()
        if self.kind in {"postgres", "pgbouncer"}:
            store.close()
            return AsyncPostgresStore(self.target)
        return AsyncStoreAdapter(store)


@contextlib.contextmanager
def pg_schema(dsn: str) -> Iterator[str]:
    """A fresh schema on *dsn*; yields a DSN whose ``search_path`` is that schema."""
    name = f"t_{secrets.token_hex(6)}"
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(name)))
    try:
        yield conninfo.make_conninfo(dsn, options=f"-c search_path={name}")
    finally:
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(name)))


def pg_url(dsn: str) -> str:
    """A ``postgresql://`` URL for a libpq key=value DSN (every parameter in the query)."""
    return "postgresql://?" + urllib.parse.urlencode(
        conninfo.conninfo_to_dict(dsn), quote_via=urllib.parse.quote
    )


#: The tables of the MFA state, in the order a restore inserts them.
TABLES = ("totpcore_users", "totpcore_recovery")


class RawDb:
    """The test database seen through a connection of our own, outside any store.

    For tampering tests: it reads and writes whole tables and writes values the store
    never would. On SQLite it ignores CHECK constraints (``PRAGMA
    ignore_check_constraints``); on PostgreSQL :meth:`drop_checks` removes them. Each
    method is one transaction; :meth:`close` closes the connection.
    """

    def __init__(self, backend: Backend) -> None:
        assert backend.sql
        self.backend = backend
        self._sqlite: sqlite3.Connection | None = None
        self._pg: psycopg.Connection[tuple[object, ...]] | None = None
        if backend.kind == "sqlite":
            self._sqlite = sqlite3.connect(backend.target, isolation_level=None)
            self._sqlite.execute("PRAGMA ignore_check_constraints = ON")
        else:
            self._pg = psycopg.connect(backend.target)

    def close(self) -> None:
        """Close the connection."""
        for conn in (self._sqlite, self._pg):
            if conn is not None:
                conn.close()

    def _run(self, statements: Sequence[tuple[str, Sequence[object]]]) -> list[list[tuple[object, ...]]]:
        """Run (sql, params) pairs in one transaction, with ``?`` placeholders; each one's rows."""
        if self._sqlite is not None:
            self._sqlite.execute("BEGIN IMMEDIATE")
            try:
                results = [self._sqlite.execute(sql, params).fetchall() for sql, params in statements]
            except BaseException:
                self._sqlite.execute("ROLLBACK")
                raise
            self._sqlite.execute("COMMIT")
            return results
        assert self._pg is not None
        with self._pg.transaction():
            return [_pg_rows(self._pg.execute(sql.replace("?", "%s"), params)) for sql, params in statements]

    def query(self, statement: str, *params: object) -> list[tuple[object, ...]]:
        """The rows of one statement."""
        return self._run([(statement, params)])[0]

    def execute(self, statement: str, *params: object) -> None:
        """Run one statement and commit."""
        self._run([(statement, params)])

    def snapshot(self) -> dict[str, list[tuple[object, ...]]]:
        """Every row of both tables, sorted, in one transaction."""
        rows = self._run([(f"SELECT * FROM {table}", ()) for table in TABLES])  # noqa: S608
        return {table: sorted(found, key=repr) for table, found in zip(TABLES, rows, strict=True)}

    def fingerprint(self) -> str:
        """The snapshot as text, equal exactly when nothing changed (a NaN equals itself here)."""
        return repr(self.snapshot())

    def restore(self, snapshot: dict[str, list[tuple[object, ...]]]) -> None:
        """Put both tables back exactly as *snapshot* holds them."""
        statements: list[tuple[str, Sequence[object]]] = [
            (f"DELETE FROM {table}", ())  # noqa: S608 - our own table names
            for table in reversed(TABLES)
        ]
        for table in TABLES:
            statements += [
                (f"INSERT INTO {table} VALUES ({', '.join('?' * len(row))})", row)  # noqa: S608
                for row in snapshot[table]
            ]
        self._run(statements)

    def drop_checks(self) -> None:
        """PostgreSQL: drop the CHECK constraints of both tables, so any value of the type fits."""
        rows = self.query(
            "SELECT conrelid::regclass::text, conname FROM pg_constraint "
            "WHERE contype = 'c' AND conrelid::regclass::text = ANY(?)",
            list(TABLES),
        )
        self._run([(f"ALTER TABLE {table} DROP CONSTRAINT {name}", ()) for table, name in rows])


def _pg_rows(cursor: psycopg.Cursor[tuple[object, ...]]) -> list[tuple[object, ...]]:
    return cursor.fetchall() if cursor.description is not None else []


def with_setting(dsn: str, setting: str) -> str:
    """*dsn* with ``-c setting`` added to its startup options (a session default on the server)."""
    existing = conninfo.conninfo_to_dict(dsn).get("options") or ""
    return conninfo.make_conninfo(dsn, options=f"{existing} -c {setting}".strip())


@contextlib.contextmanager
def pg_database(dsn: str, via: str) -> Iterator[str]:
    """A fresh database created through *dsn*; yields *via* (a PgBouncer DSN) naming it.

    PgBouncer refuses the startup options that carry ``pg_schema``'s ``search_path``, so
    behind it each test gets a database of its own instead of a schema. Dropping it ``WITH
    (FORCE)`` also ends the server connections PgBouncer still pools for it.
    """
    name = f"t_{secrets.token_hex(6)}"
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield conninfo.make_conninfo(via, dbname=name)
    finally:
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(name)))


def begin(
    store: Store,
    user_id: str = "alice",
    *,
    secret: bytes = SECRET,
    now: float = 1000.0,
    enrollment_id: str = EID,
) -> bool:
    """Begin an enrollment of *user_id* with fixed parameters (SHA1, 6 digits, 30 s, key k1)."""
    return store.begin(
        user_id,
        enrollment_id=enrollment_id,
        sealed_secret=secret,
        key_id="k1",
        digits=6,
        period=30,
        algorithm="SHA1",
        now=now,
    )


def enroll(
    store: Store,
    user_id: str = "alice",
    *,
    secret: bytes = SECRET,
    step: int = CONFIRM_STEP,
    digests: Sequence[bytes] = DIGESTS,
    now: float = 1000.0,
    enrollment_id: str = EID,
) -> None:
    """Begin and activate *user_id*: ENABLED, last_step = *step*, the given recovery set."""
    assert begin(store, user_id, secret=secret, now=now, enrollment_id=enrollment_id)
    assert store.activate(
        user_id,
        enrollment_id=enrollment_id,
        step=step,
        recovery_params="$test$",
        digests=digests,
        now=now + 1,
    )


def connections_named(pg_dsn: str, name: str) -> int:
    """How many server connections with application_name *name* are open now."""
    with psycopg.connect(pg_dsn, autocommit=True) as admin:
        row = admin.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE application_name = %s", (name,)
        ).fetchone()
    assert row is not None
    return int(row[0])


def claim(
    store: Store, user_id: str = "alice", *, now: float, throttle: Throttle, status: Status = Status.ENABLED
) -> Claim:
    """Claim an attempt for a user in *status* (ENABLED by default)."""
    return store.claim_attempt(user_id, status=status, now=now, throttle=throttle)


def race_threads(count: int, rounds: int, attempt: Callable[[int], T]) -> list[list[T]]:
    """Run ``attempt(round)`` in *count* threads released together each round; all results by round."""
    barrier = threading.Barrier(count, timeout=BARRIER_TIMEOUT)
    results: list[list[T | None]] = [[None] * count for _ in range(rounds)]
    failures: list[BaseException] = []

    def worker(k: int) -> None:
        try:
            for r in range(rounds):
                barrier.wait()
                results[r][k] = attempt(r)
        except BaseException as exc:  # noqa: BLE001 - re-raised below, after releasing the others
            failures.append(exc)
            barrier.abort()

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if failures:
        raise failures[0]
    return [[value for value in row if value is not None] for row in results]


def race_processes(target: Callable[..., None], args: tuple[object, ...], count: int) -> list[list[T]]:
    """Run *target* in *count* spawned processes behind one barrier; their reported lists."""
    return race_each(target, [args] * count)


def race_each(target: Callable[..., None], args_each: Sequence[tuple[object, ...]]) -> list[list[T]]:
    """Run ``target(*args_each[k], barrier, out)`` in one spawned process each; their reported lists."""
    count = len(args_each)
    ctx = multiprocessing.get_context("spawn")
    barrier: Barrier = ctx.Barrier(count, timeout=BARRIER_TIMEOUT)
    pipes: list[tuple[Connection, Connection]] = [ctx.Pipe(duplex=False) for _ in range(count)]
    children = [
        ctx.Process(target=_racer, args=(target, args, barrier, send))
        for args, (_, send) in zip(args_each, pipes, strict=True)
    ]
    for child in children:
        child.start()
    try:
        results: list[list[T]] = []
        for (receive, send), child in zip(pipes, children, strict=True):
            send.close()
            if not receive.poll(BARRIER_TIMEOUT * 2):
                pytest.fail(f"child {child.pid} reported nothing (exit code {child.exitcode})")
            results.append(receive.recv())
    finally:
        for child in children:
            child.join(BARRIER_TIMEOUT)
            if child.is_alive():  # pragma: no cover - only when the test is failing anyway
                child.kill()
    assert [child.exitcode for child in children] == [0] * count
    return results


# ---------------------------------------------------------------- child processes


def _racer(target: Callable[..., None], args: tuple[object, ...], barrier: Barrier, out: Connection) -> None:
    """Run one child of race_processes; if it fails, break the barrier so the others stop waiting now."""
    try:
        target(*args, barrier, out)
    except BaseException:
        barrier.abort()
        raise


def race_accept_child(backend: Backend, user_id: str, rounds: int, barrier: Barrier, out: Connection) -> None:
    """Each round, call accept_step for the round's step right after the barrier; send the results."""
    store = backend.open(create=False)
    try:
        results = []
        for r in range(rounds):
            barrier.wait(BARRIER_TIMEOUT)
            results.append(
                store.accept_step(
                    user_id, enrollment_id=EID, step=CONFIRM_STEP + 1 + r, drift=0, now=2000.0 + r
                )
            )
        out.send(results)
    finally:
        store.close()


def race_consume_child(
    backend: Backend, user_id: str, digests: Sequence[bytes], barrier: Barrier, out: Connection
) -> None:
    """Each round, consume the round's recovery code right after the barrier; send the results."""
    store = backend.open(create=False)
    try:
        results = []
        for r, digest in enumerate(digests):
            barrier.wait(BARRIER_TIMEOUT)
            results.append(
                store.consume_recovery(user_id, enrollment_id=EID, index=r, digest=digest, now=2000.0 + r)
            )
        out.send(results)
    finally:
        store.close()


def race_claim_child(backend: Backend, user_id: str, claims: int, barrier: Barrier, out: Connection) -> None:
    """Claim *claims* attempts as fast as possible after the barrier; send the results."""
    store = backend.open(create=False)
    try:
        barrier.wait(BARRIER_TIMEOUT)
        out.send(
            [
                store.claim_attempt(
                    user_id, status=Status.ENABLED, now=2000.0, throttle=UNTHROTTLED
                ).result.value
                for _ in range(claims)
            ]
        )
    finally:
        store.close()


def generation(step: int) -> list[bytes]:
    """The recovery set the crash child writes together with *step*: five digests naming it."""
    return [step.to_bytes(8, "big") + bytes([i]) * 24 for i in range(5)]


def writer_child(backend: Backend, user_id: str, out: Connection) -> None:
    """Accept ever later steps, replacing the recovery set with each; report each accepted step.

    Runs until killed. The report is sent only after the store returned True, so every
    reported step must be in the database afterwards.
    """
    store = backend.open(create=False)
    record = store.load(user_id)
    assert record is not None
    assert record.last_step is not None
    step = record.last_step + 1
    while True:
        store.replace_recovery(
            user_id,
            enrollment_id=EID,
            recovery_params=f"gen-{step}",
            digests=generation(step),
            now=float(step),
        )
        if store.accept_step(user_id, enrollment_id=EID, step=step, drift=0, now=float(step)):
            out.send(step)
        step += 1
