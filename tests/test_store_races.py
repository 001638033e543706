"""Concurrency: the security-relevant operations stay atomic under real races (VER-9, RC-2, RL-1).

Threads are released together by a ``threading.Barrier`` each round, processes (spawned:
no inherited connections) by a ``multiprocessing`` barrier. Each round counts successes:
a read-check-write implementation fails these within a few rounds.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

import psycopg
import pytest
from psycopg import conninfo, sql

from store_support import (
    BARRIER_TIMEOUT,
    CONFIRM_STEP,
    EID,
    UNTHROTTLED,
    Backend,
    claim,
    enroll,
    race_accept_child,
    race_claim_child,
    race_consume_child,
    race_processes,
    race_threads,
    with_setting,
)
from totpcore.store import ClaimResult, PostgresStore, Store
from totpcore.throttle import Throttle

T = TypeVar("T")

THREADS = 16
PROCESSES = 4
THREAD_ROUNDS = 100
PROCESS_ROUNDS = 50

ALL = pytest.mark.parametrize("backend", ["memory", "sqlite", "postgres", "pgbouncer"], indirect=True)
SHARED = pytest.mark.parametrize("backend", ["sqlite", "postgres", "pgbouncer"], indirect=True)


def digests(rounds: int) -> list[bytes]:
    """One distinct recovery digest per round."""
    return [r.to_bytes(4, "big") * 8 for r in range(rounds)]


@ALL
class TestThreads:
    """16 threads of one process, each with its own connection."""

    def test_accept_step_once_per_step(self, store: Store) -> None:
        """Every round, 16 threads submit the same step: exactly one is accepted."""
        enroll(store)
        rounds = race_threads(
            THREADS,
            THREAD_ROUNDS,
            lambda r: store.accept_step(
                "alice", enrollment_id=EID, step=CONFIRM_STEP + 1 + r, drift=0, now=2e3
            ),
        )
        assert [row.count(True) for row in rounds] == [1] * THREAD_ROUNDS
        record = store.load("alice")
        assert record is not None
        assert record.last_step == CONFIRM_STEP + THREAD_ROUNDS

    def test_recovery_code_once(self, store: Store) -> None:
        """Every round, 16 threads use the same recovery code: exactly one gets in."""
        codes = digests(THREAD_ROUNDS)
        enroll(store, digests=codes)
        rounds = race_threads(
            THREADS,
            THREAD_ROUNDS,
            lambda r: store.consume_recovery("alice", enrollment_id=EID, index=r, digest=codes[r], now=2e3),
        )
        assert [[left for left in row if left is not None] for row in rounds] == [
            [THREAD_ROUNDS - 1 - r] for r in range(THREAD_ROUNDS)
        ]

    def test_no_lost_failure_count(self, store: Store) -> None:
        """16 threads claiming 6 attempts each leave exactly 96 failures."""
        enroll(store)
        rounds = race_threads(THREADS, 6, lambda _: claim(store, now=2e3, throttle=UNTHROTTLED))
        assert all(claim.result is ClaimResult.CLAIMED for row in rounds for claim in row)
        seen = sorted(claim.record.failures for row in rounds for claim in row if claim.record is not None)
        assert seen == list(range(1, THREADS * 6 + 1))
        record = store.load("alice")
        assert record is not None
        assert record.failures == THREADS * 6

    def test_parallel_guesses_are_throttled(self, store: Store) -> None:
        """With no free attempt, one of 16 simultaneous guesses is evaluated, 15 wait (AuthQuake)."""
        enroll(store)
        throttle = Throttle(free_attempts=0, base_delay=1.0, max_delay=900.0, lockout=100)
        rounds = race_threads(
            THREADS, 20, lambda r: claim(store, now=1e4 * (r + 1), throttle=throttle).result
        )
        assert [row.count(ClaimResult.CLAIMED) for row in rounds] == [1] * 20
        assert [row.count(ClaimResult.THROTTLED) for row in rounds] == [THREADS - 1] * 20


@SHARED
class TestProcesses:
    """4 processes, as 4 app servers on one database."""

    def test_accept_step_once_per_step(self, backend: Backend, store: Store) -> None:
        """Every round, 4 processes submit the same step: exactly one is accepted."""
        enroll(store)
        results: list[list[bool]] = race_processes(
            race_accept_child, (backend, "alice", PROCESS_ROUNDS), PROCESSES
        )
        per_round = [sum(child[r] for child in results) for r in range(PROCESS_ROUNDS)]
        assert per_round == [1] * PROCESS_ROUNDS
        record = store.load("alice")
        assert record is not None
        assert record.last_step == CONFIRM_STEP + PROCESS_ROUNDS

    def test_recovery_code_once(self, backend: Backend, store: Store) -> None:
        """Every round, 4 processes use the same recovery code: exactly one gets in."""
        codes = digests(PROCESS_ROUNDS)
        enroll(store, digests=codes)
        results: list[list[int | None]] = race_processes(
            race_consume_child, (backend, "alice", codes), PROCESSES
        )
        per_round = [sum(child[r] is not None for child in results) for r in range(PROCESS_ROUNDS)]
        assert per_round == [1] * PROCESS_ROUNDS
        record = store.load("alice")
        assert record is not None
        assert record.recovery == ()

    def test_no_lost_failure_count(self, backend: Backend, store: Store) -> None:
        """4 processes claiming 24 attempts each leave exactly 96 failures."""
        enroll(store)
        results: list[list[str]] = race_processes(race_claim_child, (backend, "alice", 24), PROCESSES)
        assert [result for child in results for result in child] == [ClaimResult.CLAIMED.value] * 96
        record = store.load("alice")
        assert record is not None
        assert record.failures == 96


def serializable_by_default(backend: Backend, pg_dsn: str) -> str:
    """A DSN for the backend's database on which every new session defaults to SERIALIZABLE."""
    if backend.kind == "pgbouncer":  # startup options do not pass PgBouncer: the database's default
        name = str(conninfo.conninfo_to_dict(backend.target)["dbname"])
        with psycopg.connect(pg_dsn, autocommit=True) as conn:
            conn.execute(
                sql.SQL("ALTER DATABASE {} SET default_transaction_isolation = 'serializable'").format(
                    sql.Identifier(name)
                )
            )
        return backend.target
    return with_setting(backend.target, "default_transaction_isolation=serializable")


def wait_until_blocked_by(pg_dsn: str, holder_pid: int) -> None:
    """Return once some server backend waits for a lock that backend *holder_pid* holds."""
    deadline = time.monotonic() + BARRIER_TIMEOUT
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        while not conn.execute(
            "SELECT 1 FROM pg_stat_activity WHERE %s = ANY(pg_blocking_pids(pid))", (holder_pid,)
        ).fetchall():
            if time.monotonic() > deadline:
                pytest.fail("the store never waited for the row lock")
            time.sleep(0.01)


@pytest.mark.parametrize("backend", ["postgres", "pgbouncer"], indirect=True)
class TestLockWait:
    """The replay guard after a row-lock wait, whatever isolation level the server defaults to."""

    def test_a_waiting_step_update_rechecks(self, backend: Backend, store: Store, pg_dsn: str) -> None:
        """accept_step that waited for another transaction on the row succeeds, at a SERIALIZABLE default."""
        enroll(store)
        dsn = serializable_by_default(backend, pg_dsn)
        waiting = PostgresStore(dsn)
        try:
            with ThreadPoolExecutor(1) as pool, psycopg.connect(dsn) as holder:
                # The pool's thread connects (a connection per thread) and sets its session up.
                assert pool.submit(waiting.load, "alice").result(BARRIER_TIMEOUT) is not None
                holder.execute("UPDATE totpcore_users SET updated_at = 1500 WHERE user_id = 'alice'")
                row = holder.execute("SELECT pg_backend_pid()").fetchone()
                assert row is not None
                accepted = pool.submit(
                    waiting.accept_step, "alice", enrollment_id=EID, step=CONFIRM_STEP + 1, drift=0, now=2e3
                )
                wait_until_blocked_by(pg_dsn, row[0])
                holder.commit()
                assert accepted.result(BARRIER_TIMEOUT) is True
        finally:
            waiting.close()
