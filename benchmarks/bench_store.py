"""Stores: accept_step (the replay guard, one UPDATE per login) in operations per second.

SQLite: one process, one thread, ``synchronous=FULL`` as shipped. PostgreSQL: a
throwaway cluster with its default durability (fsync on, synchronous_commit on), started
by ``tests/pg_cluster.py``, and 8 concurrent clients, each logging in its own user: once
as 8 threads of one process (one store, a connection per thread) and once as 8 processes
(8 app servers). Every call is an accepted code, a committed transaction.
"""

from __future__ import annotations

import multiprocessing
import tempfile
import time
from multiprocessing.connection import Connection
from multiprocessing.synchronize import Barrier
from pathlib import Path

from harness import CLIENTS, TIMEOUT, Row, postgres, threaded
from totpcore.store import PostgresStore, SQLiteStore, Store

#: The one enrolment id of every benchmark user.
EID = "b" * 32


def _enroll(store: Store, user_id: str) -> None:
    assert store.begin(
        user_id,
        enrollment_id=EID,
        sealed_secret=b"s" * 44,
        key_id="k",
        digits=6,
        period=30,
        algorithm="SHA1",
        now=0.0,
    )
    assert store.activate(user_id, enrollment_id=EID, step=0, recovery_params="p", digests=[], now=0.0)


def _accept_many(store: Store, user_id: str, first: int, count: int) -> None:
    for step in range(first, first + count):
        assert store.accept_step(user_id, enrollment_id=EID, step=step, drift=0, now=float(step))


def _sqlite_rate(count: int, rounds: int) -> float:
    """Best accepted steps per second over *rounds* runs of *count* calls."""
    with tempfile.TemporaryDirectory() as root:
        store = SQLiteStore(Path(root) / "bench.db")
        store.create_schema()
        _enroll(store, "u0")
        best, step = 0.0, 1
        for _ in range(rounds):
            start = time.perf_counter()
            _accept_many(store, "u0", step, count)
            best = max(best, count / (time.perf_counter() - start))
            step += count
        store.close()
    return best


def _pg_threads(dsn: str, count: int) -> float:
    """Accepted steps per second, 8 threads of one process sharing one PostgresStore."""
    store = PostgresStore(dsn)
    elapsed = threaded(
        CLIENTS,
        lambda k: store.load(f"t{k}"),  # opens this thread's connection
        lambda k: _accept_many(store, f"t{k}", 1, count),
    )
    store.close()
    return CLIENTS * count / elapsed


def _pg_client(dsn: str, user_id: str, count: int, barrier: Barrier, done: Connection) -> None:
    """One app server: connect, wait for the others, accept *count* steps."""
    store = PostgresStore(dsn)
    store.load(user_id)
    barrier.wait(TIMEOUT)
    _accept_many(store, user_id, 1, count)
    store.close()
    done.send(count)


def _pg_processes(dsn: str, count: int) -> float:
    """Accepted steps per second, 8 spawned processes each with its own PostgresStore."""
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(CLIENTS + 1, timeout=TIMEOUT)
    pipes = [ctx.Pipe(duplex=False) for _ in range(CLIENTS)]
    children = [
        ctx.Process(target=_pg_client, args=(dsn, f"p{k}", count, barrier, send))
        for k, (_, send) in enumerate(pipes)
    ]
    for child in children:
        child.start()
    barrier.wait()
    start = time.perf_counter()
    for receive, _ in pipes:
        assert receive.poll(TIMEOUT)
        receive.recv()
    elapsed = time.perf_counter() - start
    for child in children:
        child.join()
    return CLIENTS * count / elapsed


def rows(scale: float) -> list[Row]:
    """accept_step throughput on SQLite and on PostgreSQL with 8 concurrent clients."""
    count = max(50, int(2000 * scale))
    result = [Row("accept_step, SQLite, 1 process", _sqlite_rate(count, rounds=3), unit="ops/s")]
    with postgres() as dsn:
        if dsn is None:
            return result
        setup = PostgresStore(dsn)
        setup.create_schema()
        for k in range(CLIENTS):
            _enroll(setup, f"t{k}")
            _enroll(setup, f"p{k}")
        setup.close()
        result.append(Row("accept_step, PostgreSQL, 8 threads", _pg_threads(dsn, count), unit="ops/s"))
        result.append(Row("accept_step, PostgreSQL, 8 processes", _pg_processes(dsn, count), unit="ops/s"))
    return result
