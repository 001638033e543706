"""The async stores keep the Store contract: every operation, awaited, on every backend (issue 15, part 3)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import psycopg
import psycopg_pool
import pytest

from store_support import CONFIRM_STEP, DIGESTS, EID, SECRET, Backend, pg_schema
from totpcore.errors import ConfigurationError, RecordError, StoreError
from totpcore.store import (
    AsyncPostgresStore,
    AsyncStoreAdapter,
    ClaimResult,
    MemoryStore,
    Status,
    UserRecord,
    open_async_store,
)
from totpcore.store import postgres as postgres_module
from totpcore.throttle import Throttle

T = TypeVar("T")
ASYNC_BACKENDS = pytest.mark.parametrize(
    "backend", ["memory", "sqlite", "postgres", "pgbouncer"], indirect=True
)


def run(body: Callable[[], Awaitable[T]]) -> T:
    """Run *body* on a new event loop."""
    return asyncio.run(body())  # type: ignore[arg-type]


@ASYNC_BACKENDS
def test_every_operation(backend: Backend) -> None:
    """Enrol, claim, accept, consume, replace, re-seal, rotate, lock and reset, all awaited."""
    throttle = Throttle(free_attempts=0, lockout=2, base_delay=1.0)

    async def body() -> None:
        store = backend.open_async()
        await store.create_schema()
        assert await store.load("alice") is None
        assert await store.begin(
            "alice", enrollment_id=EID, sealed_secret=SECRET, key_id="k1", digits=6, period=30,
            algorithm="SHA1", now=1.0,
        )  # fmt: skip
        assert await store.activate(
            "alice", enrollment_id=EID, step=CONFIRM_STEP, recovery_params="$p$", digests=DIGESTS, now=2.0
        )
        claim = await store.claim_attempt("alice", status=Status.ENABLED, now=3.0, throttle=throttle)
        assert (claim.result, claim.retry_after) == (ClaimResult.CLAIMED, 0.0)
        assert await store.accept_step("alice", enrollment_id=EID, step=CONFIRM_STEP + 1, drift=1, now=4.0)
        assert not await store.accept_step(
            "alice", enrollment_id=EID, step=CONFIRM_STEP + 1, drift=1, now=4.0
        )
        assert (
            await store.consume_recovery("alice", enrollment_id=EID, index=1, digest=DIGESTS[1], now=5.0) == 4
        )
        assert await store.replace_recovery(
            "alice", enrollment_id=EID, recovery_params="$q$", digests=DIGESTS[:2], now=6.0
        )
        swaps = [(0, DIGESTS[0], b"sealed-0")]
        assert await store.reseal_recovery(
            "alice", old_params="$q$", new_params="$r$", digests=swaps, now=7.0
        )
        assert await store.stale_keys("k2") == ["alice"]
        assert await store.reseal("alice", old=SECRET, new=b"new", key_id="k2", now=8.0)
        assert await store.stale_keys("k2") == []
        record = await store.load("alice")
        assert record is not None
        assert (record.sealed_secret, record.recovery_params, record.recovery) == (
            b"new", "$r$", ((0, b"sealed-0"), (1, DIGESTS[1])),
        )  # fmt: skip
        for now in (9.0, 10.0):
            await store.claim_attempt("alice", status=Status.ENABLED, now=now, throttle=throttle)
        assert await store.lock_if_exhausted("alice", enrollment_id=EID, throttle=throttle, now=11.0)
        assert (
            await store.claim_attempt("alice", status=Status.ENABLED, now=12.0, throttle=throttle)
        ).result is (ClaimResult.LOCKED)
        assert await store.reset("alice")
        assert not await store.reset("alice")
        await store.close()
        with pytest.raises(StoreError, match="closed"):
            await store.load("alice")

    run(body)


class TestAsyncPostgresStore:
    """What the async PostgreSQL store adds: its errors, transactions and retries."""

    def test_errors_are_store_errors_and_the_dsn_stays_hidden(self, pg_dsn: str) -> None:
        """No schema: a StoreError that names the operation; a malformed DSN: ConfigurationError."""
        with pg_schema(pg_dsn) as dsn:
            store = AsyncPostgresStore(dsn)
            assert repr(store) == "AsyncPostgresStore(<dsn redacted>, pool_size=10)"
            with pytest.raises(StoreError, match=r"load failed: UndefinedTable \(SQLSTATE 42P01\)"):
                run(lambda: store.load("alice"))
        with pytest.raises(ConfigurationError, match="malformed"):
            AsyncPostgresStore("host=x 'unterminated")

    def test_a_refusing_check_rolls_back_and_the_connection_is_reused(self, pg_dsn: str) -> None:
        """An exception inside a transaction rolls it back; the pooled connection serves the next call."""
        with pg_schema(pg_dsn) as dsn:
            Backend("postgres", dsn).open().close()

            def refuse(record: UserRecord) -> None:
                raise RecordError(f"unusable row of {record.user_id}")

            async def body() -> int:
                store = AsyncPostgresStore(dsn, pool_size=1)
                await store.begin(
                    "alice", enrollment_id=EID, sealed_secret=SECRET, key_id="k1", digits=6, period=30,
                    algorithm="SHA1", now=1.0,
                )  # fmt: skip
                with pytest.raises(RecordError, match="unusable row of alice"):
                    await store.claim_attempt(
                        "alice", status=Status.PENDING, now=2.0, throttle=Throttle(), check=refuse
                    )
                record = await store.load("alice")
                await store.close()
                assert record is not None
                return record.failures

            assert run(body) == 0

    def test_a_serialisation_failure_runs_the_operation_again(
        self, pg_dsn: str, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """SQLSTATE 40001 twice, then success: one answer; three times: a StoreError."""
        failures = {"left": 2}
        execute = postgres_module._aexecute

        async def flaky(conn: psycopg.AsyncConnection[tuple[object, ...]], statement: object) -> object:
            if failures["left"]:
                failures["left"] -= 1
                raise psycopg.errors.SerializationFailure("could not serialize access")
            return await execute(conn, statement)  # type: ignore[arg-type]

        monkeypatch.setattr(postgres_module, "_aexecute", flaky)
        with pg_schema(pg_dsn) as dsn:
            Backend("postgres", dsn).open().close()

            async def body() -> None:
                store = AsyncPostgresStore(dsn)
                assert await store.load("alice") is None
                failures["left"] = 3
                with pytest.raises(StoreError, match="SQLSTATE 40001"):
                    await store.load("alice")
                await store.close()

            run(body)

    def test_closing_an_unused_store(self) -> None:
        """A store that never connected closes without a pool to close, and refuses work after."""
        store = AsyncPostgresStore("dbname=nothing-here")

        async def body() -> None:
            await store.close()
            with pytest.raises(StoreError, match="closed"):
                await store.load("alice")

        run(body)

    def test_tasks_racing_to_open_the_pool_share_one(
        self, pg_dsn: str, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """Eight tasks making the first call at once open one pool, not eight (opening yields to them)."""
        opened: list[object] = []
        original = psycopg_pool.AsyncConnectionPool.open

        async def open_slowly(pool: psycopg_pool.AsyncConnectionPool[Any], *args: Any, **kwargs: Any) -> None:  # noqa: ANN401
            opened.append(pool)
            await asyncio.sleep(0.01)  # the other tasks reach the lock meanwhile
            await original(pool, *args, **kwargs)

        monkeypatch.setattr(psycopg_pool.AsyncConnectionPool, "open", open_slowly)
        with pg_schema(pg_dsn) as dsn:
            Backend("postgres", dsn).open().close()

            async def body() -> None:
                store = AsyncPostgresStore(dsn)
                assert await asyncio.gather(*(store.load(f"u{i}") for i in range(8))) == [None] * 8
                pool = store._pool_object
                assert pool is not None
                assert await store._pool() is pool
                await store.close()

            run(body)
        assert len(opened) == 1

    def test_a_connection_lost_mid_transaction_is_closed(
        self, pg_dsn: str, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """The server ends the session inside a transaction: a StoreError; the broken connection is closed."""
        execute = postgres_module._aexecute

        async def lose_it(conn: psycopg.AsyncConnection[tuple[object, ...]], statement: object) -> object:
            if "FOR UPDATE" in str(getattr(statement, "sql", "")):
                await conn.execute("SELECT pg_terminate_backend(pg_backend_pid())")
            return await execute(conn, statement)  # type: ignore[arg-type]

        monkeypatch.setattr(postgres_module, "_aexecute", lose_it)
        with pg_schema(pg_dsn) as dsn:
            Backend("postgres", dsn).open().close()

            async def body() -> None:
                store = AsyncPostgresStore(dsn, pool_size=1)
                with pytest.raises(StoreError, match="claim_attempt failed"):
                    await store.claim_attempt("alice", status=Status.ENABLED, now=1.0, throttle=Throttle())
                monkeypatch.setattr(postgres_module, "_aexecute", execute)
                # The pool holds one connection: the broken one was closed, a fresh one serves.
                assert await store.load("alice") is None
                await store.close()

            run(body)


def test_adapter_repr_bounds_and_close() -> None:
    """The adapter names its store, takes 1 to 64 worker threads, and closes once."""
    adapter = AsyncStoreAdapter(MemoryStore())
    assert repr(adapter) == "AsyncStoreAdapter(MemoryStore(<0 users>))"

    async def close_twice() -> None:
        await adapter.close()
        await adapter.close()

    run(close_twice)
    with pytest.raises(ConfigurationError, match="workers"):
        AsyncStoreAdapter(MemoryStore(), workers=0)


def test_store_urls_are_strings() -> None:
    """A URL that is not a str is refused without echoing it."""
    with pytest.raises(ConfigurationError, match="a store URL is a str, not bytes"):
        open_async_store(b"memory://")  # type: ignore[arg-type]
