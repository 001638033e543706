"""AsyncMfaService: the same flow as MfaService, awaited, on every async store (issue 15, part 3)."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

import psycopg
import pytest

from service_support import CHEAP_KDF, Clock
from store_support import Backend, connections_named, pg_schema
from totpcore import (
    TOTP,
    AsyncMfaService,
    AuditEvent,
    EventType,
    KeyRing,
    LoginResult,
    Method,
    MfaService,
    Outcome,
    Policy,
    Requirement,
    Secret,
    Status,
)
from totpcore.store import (
    AsyncPostgresStore,
    AsyncStoreAdapter,
    MemoryStore,
    SQLiteStore,
    UserRecord,
)
from totpcore.throttle import Throttle

START = 1_767_225_610.0
#: Cheap hashing for speed; no throttling in the way of a race; slots for every racing task.
POLICY = Policy(
    recovery_kdf=CHEAP_KDF,
    throttle=Throttle(free_attempts=98, lockout=99),
    kdf_concurrency=64,
    kdf_wait=60.0,
)
TASKS = 64

ALL_STORES = pytest.mark.parametrize("backend", ["memory", "sqlite", "postgres"], indirect=True)


@pytest.fixture
def events() -> list[AuditEvent]:
    """The audit trail of the test."""
    return []


async def enrol(service: AsyncMfaService, user_id: str = "alice") -> tuple[TOTP, list[str]]:
    """Enrol *user_id*: the phone and the recovery codes."""
    enrollment = await service.begin_enrollment(user_id, account=user_id)
    phone = TOTP(Secret.from_base32(enrollment.secret_base32))
    codes = await service.confirm_enrollment(user_id, phone.at(START))
    return phone, codes


def build(backend: Backend, events: list[AuditEvent], clock: Clock) -> AsyncMfaService:
    """An async service over the test's backend, reading *clock*."""
    return AsyncMfaService(
        backend.open_async(), issuer="Outsmart EMR", keyring=KeyRing.generate(), policy=POLICY,
        clock=clock, audit=events.append,
    )  # fmt: skip


@ALL_STORES
class TestFlow:
    """Every method, awaited, gives what the blocking face gives."""

    def test_enrol_login_recovery_resync_reset(self, backend: Backend, events: list[AuditEvent]) -> None:
        """The whole flow through the async face."""
        clock = Clock(START)

        async def body() -> None:
            svc = build(backend, events, clock)
            try:
                assert await svc.requirement("alice") is Requirement.NONE
                phone, codes = await enrol(svc)
                assert await svc.status("alice") is Status.ENABLED
                state = await svc.state("alice")
                assert (state.requirement, state.recovery_codes_left, state.enabled_at) == (
                    Requirement.CODE, 5, START,
                )  # fmt: skip
                clock.now += 30
                assert (await svc.verify("alice", phone.at(clock.now))).ok
                replayed = await svc.verify("alice", phone.at(clock.now))
                assert replayed == LoginResult(Outcome.REPLAYED, Method.TOTP)
                used = await svc.verify("alice", codes[0])
                assert (used.ok, used.recovery_codes_left) == (True, 4)
                clock.now += 30
                new_codes = await svc.regenerate_recovery_codes("alice", phone.at(clock.now))
                assert len(new_codes) == 5
                assert not (await svc.verify("alice", codes[1])).ok
                far = clock.now + 3600
                resynced = await svc.resync("alice", [phone.at(far), phone.at(far + 30)])
                assert resynced.ok
                assert (await svc.rotate_keys()).skipped == ()
                await svc.reset("alice", actor="support:bob", reason="lost phone")
                assert await svc.status("alice") is Status.NONE
                with pytest.raises(Exception, match="cannot be disabled"):
                    await svc.disable("alice")
            finally:
                await svc.close()

        asyncio.run(body())
        kinds = [event.type for event in events]
        assert kinds[:2] == [EventType.ENROLLMENT_STARTED, EventType.ENROLLMENT_CONFIRMED]
        assert kinds[-2:] == [EventType.RESET, EventType.DISABLE_REFUSED]

    def test_async_audit_sink_is_awaited(self, backend: Backend) -> None:
        """A coroutine function as the audit sink receives every event."""
        seen: list[EventType] = []

        async def sink(event: AuditEvent) -> None:
            await asyncio.sleep(0)
            seen.append(event.type)

        async def body() -> None:
            svc = AsyncMfaService(
                backend.open_async(), issuer="x", keyring=KeyRing.generate(), policy=POLICY,
                clock=Clock(START), audit=sink,
            )  # fmt: skip
            async with svc:
                await enrol(svc)
                await svc.verify("alice", "000000")

        asyncio.run(body())
        assert seen == [EventType.ENROLLMENT_STARTED, EventType.ENROLLMENT_CONFIRMED, EventType.LOGIN]


@pytest.mark.parametrize("backend", ["memory", "sqlite", "postgres", "pgbouncer"], indirect=True)
class TestRaces:
    """64 tasks on one event loop, one code: exactly one is accepted (also through PgBouncer)."""

    def test_same_app_code(self, backend: Backend, events: list[AuditEvent]) -> None:
        """64 concurrent verifies of one app code: one ACCEPTED, 63 REPLAYED."""
        clock = Clock(START)

        async def body() -> list[Outcome]:
            svc = build(backend, events, clock)
            async with svc:
                phone, _ = await enrol(svc)
                clock.now += 30
                code = phone.at(clock.now)
                results = await asyncio.gather(*(svc.verify("alice", code) for _ in range(TASKS)))
            return [result.outcome for result in results]

        outcomes = asyncio.run(body())
        assert outcomes.count(Outcome.ACCEPTED) == 1
        assert outcomes.count(Outcome.REPLAYED) == TASKS - 1

    def test_same_recovery_code(self, backend: Backend, events: list[AuditEvent]) -> None:
        """64 concurrent uses of one recovery code: one ACCEPTED, the rest REPLAYED."""
        clock = Clock(START)

        async def body() -> list[Outcome]:
            svc = build(backend, events, clock)
            async with svc:
                _, codes = await enrol(svc)
                results = await asyncio.gather(*(svc.verify("alice", codes[2]) for _ in range(TASKS)))
                left = (await svc.state("alice")).recovery_codes_left
            assert left == 4
            return [result.outcome for result in results]

        outcomes = asyncio.run(body())
        assert outcomes.count(Outcome.ACCEPTED) == 1
        # The losers matched a code consumed meanwhile (REPLAYED), or claimed after it was gone (INVALID).
        assert set(outcomes) <= {Outcome.ACCEPTED, Outcome.REPLAYED, Outcome.INVALID}


class TestFaces:
    """Each face refuses the other face's store and sink, and both share the flow."""

    def test_wrong_store_for_the_face(self, tmp_path: Path) -> None:
        """A blocking store needs MfaService, an async one AsyncMfaService."""
        blocking = SQLiteStore(tmp_path / "x.db")
        with pytest.raises(TypeError, match="blocking store"):
            AsyncMfaService(blocking, issuer="x", keyring=KeyRing.generate(), audit=print)  # type: ignore[arg-type]
        adapter = AsyncStoreAdapter(MemoryStore())
        with pytest.raises(TypeError, match="async store"):
            MfaService(adapter, issuer="x", keyring=KeyRing.generate(), audit=print)  # type: ignore[arg-type]

        async def sink(event: AuditEvent) -> None:
            del event

        with pytest.raises(TypeError, match="async audit sink"):
            MfaService(MemoryStore(), issuer="x", keyring=KeyRing.generate(), audit=sink)  # type: ignore[arg-type]


@pytest.mark.parametrize("backend", ["memory", "sqlite"], indirect=True)
def test_store_calls_leave_the_loop_thread(backend: Backend) -> None:
    """Blocking stores run in the adapter's threads; the loop thread never runs a store call."""
    threads: set[str] = set()
    inner = backend.open()
    load = inner.load

    def spy(user_id: str) -> UserRecord | None:
        threads.add(threading.current_thread().name)
        return load(user_id)

    inner.load = spy  # type: ignore[method-assign]

    async def body() -> None:
        svc = AsyncMfaService(
            AsyncStoreAdapter(inner), issuer="x", keyring=KeyRing.generate(), policy=POLICY, audit=print
        )
        async with svc:
            await svc.status("alice")

    asyncio.run(body())
    assert threads
    assert all(name.startswith("totpcore-store") for name in threads)


def test_async_pool_bounds_the_connections(pg_dsn: str) -> None:
    """64 tasks on one AsyncPostgresStore hold at most 10 server connections."""
    name = "totpcore-async-pool-test"
    with pg_schema(pg_dsn) as dsn:
        Backend("postgres", dsn).open().close()
        named = psycopg.conninfo.make_conninfo(dsn, application_name=name)
        peak: list[int] = []

        async def body() -> None:
            store = AsyncPostgresStore(named)
            svc = AsyncMfaService(store, issuer="x", keyring=KeyRing.generate(), policy=POLICY, audit=print)
            async with svc:
                for _ in range(3):
                    await asyncio.gather(*(svc.verify(f"user-{i}", "123456") for i in range(TASKS)))
                    peak.append(await asyncio.to_thread(connections_named, pg_dsn, name))

        asyncio.run(body())
        assert 1 <= max(peak) <= 10
