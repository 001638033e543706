"""MfaService.verify: successful logins per second, and its cost over a bare accept_step.

A login is: claim the attempt (one transaction), unseal the secret (AES-256-GCM), verify
the code over a Window(1, 1), record the step (one transaction), hand the audit event to the
sink (a no-op here). Every login below is accepted: the clock moves one step per
login and the code is the phone's code for that step (computed before timing).

SQLite: one process. PostgreSQL: a throwaway cluster (fsync on), 8 threads sharing one
service and one store, each thread logging in its own user; then, in the same run and
on the same cluster, AsyncMfaService over AsyncPostgresStore with 64 tasks, each logging
in its own user (issue 15 part 5). Both PostgreSQL stores are bounded to 10 connections
(``pool_size=10``, the default). Recovery sets are hashed with cheap Argon2id parameters
to enrol quickly: an app-code login never runs the KDF.
"""

from __future__ import annotations

import asyncio
import contextvars
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from harness import CLIENTS, Row, postgres, threaded
from totpcore import TOTP, AsyncMfaService, MfaService, Secret
from totpcore.recovery import Argon2Params
from totpcore.sealing import KeyRing
from totpcore.service import Policy
from totpcore.store import AsyncPostgresStore, PostgresStore, SQLiteStore, Store

START = 1_700_000_010.0
#: Concurrent tasks of the async face, and the pool bound of both PostgreSQL faces.
TASKS = 64
POOL_SIZE = 10
POLICY = Policy(recovery_kdf=Argon2Params(memory_kib=8, iterations=1, lanes=1))
#: The time the service reads: one value per thread or task, so each user's logins move a step at a time.
NOW: contextvars.ContextVar[float] = contextvars.ContextVar("now", default=START)


def _enrol(service: MfaService, user_id: str) -> TOTP:
    NOW.set(START)
    enrollment = service.begin_enrollment(user_id, account=user_id)
    phone = TOTP(Secret.from_base32(enrollment.secret_base32))
    service.confirm_enrollment(user_id, phone.at(START))
    return phone


def _codes(phone: TOTP, count: int) -> list[str]:
    """The codes of the *count* logins after enrolment, one step apart."""
    return [phone.at(START + 30 * i) for i in range(1, count + 1)]


def _logins(service: MfaService, user_id: str, codes: list[str]) -> None:
    for i, code in enumerate(codes, start=1):
        NOW.set(START + 30 * i)
        assert service.verify(user_id, code).ok


def _accepts(store: Store, user_id: str, count: int) -> None:
    record = store.load(user_id)
    assert record is not None
    for i in range(1, count + 1):
        assert store.accept_step(
            user_id, enrollment_id=record.enrollment_id, step=10**9 + i, drift=0, now=START
        )


def _rates(store: Store, count: int, clients: int) -> tuple[float, float]:
    """(logins/s, accept_step/s) with *clients* threads, each on its own user."""
    service = MfaService(
        store, issuer="bench", keyring=KeyRing.generate(), policy=POLICY, clock=NOW.get, audit=lambda _: None
    )
    users = [f"u{k}" for k in range(clients)]
    codes = [_codes(_enrol(service, user_id), count) for user_id in users]

    def rate(work: Callable[[int], None]) -> float:
        return clients * count / threaded(clients, lambda k: store.load(users[k]), work)  # opens connections

    return (
        rate(lambda k: _logins(service, users[k], codes[k])),
        rate(lambda k: _accepts(store, users[k], count)),
    )


async def _async_logins(dsn: str, count: int) -> float:
    """Logins/s of AsyncMfaService over AsyncPostgresStore, TASKS tasks, each on its own user."""
    keyring = KeyRing.generate()
    enrolling = MfaService(
        PostgresStore(dsn, pool_size=POOL_SIZE),
        issuer="bench",
        keyring=keyring,
        policy=POLICY,
        clock=NOW.get,
        audit=lambda _: None,
    )
    users = [f"a{k}" for k in range(TASKS)]
    codes = [_codes(_enrol(enrolling, user_id), count) for user_id in users]
    enrolling.close()
    store = AsyncPostgresStore(dsn, pool_size=POOL_SIZE)
    service = AsyncMfaService(
        store, issuer="bench", keyring=keyring, policy=POLICY, clock=NOW.get, audit=lambda _: None
    )

    async def client(k: int) -> None:
        for i, code in enumerate(codes[k], start=1):
            NOW.set(START + 30 * i)
            assert (await service.verify(users[k], code)).ok

    await asyncio.gather(*(store.load(user_id) for user_id in users))  # opens the pool's connections
    start = time.perf_counter()
    await asyncio.gather(*(client(k) for k in range(TASKS)))
    elapsed = time.perf_counter() - start
    await service.close()
    return TASKS * count / elapsed


def _rows(name: str, logins: float, accepts: float) -> list[Row]:
    return [
        Row(f"MfaService.verify (login), {name}", logins, unit="ops/s"),
        Row(f"bare accept_step, {name}", accepts, unit="ops/s"),
        Row(f"  login time / accept_step time, {name}", accepts / logins, unit="x"),
    ]


def rows(scale: float) -> list[Row]:
    """Logins per second on SQLite (1 process) and PostgreSQL (8 threads, then 64 tasks)."""
    count = max(30, int(1000 * scale))
    with tempfile.TemporaryDirectory() as root:
        store = SQLiteStore(Path(root) / "bench.db")
        store.create_schema()
        result = _rows("SQLite, 1 process", *_rates(store, count, 1))
        store.close()
    with postgres() as dsn:
        if dsn is not None:
            pg = PostgresStore(dsn, pool_size=POOL_SIZE)
            pg.create_schema()
            logins, accepts = _rates(pg, max(10, count // 4), CLIENTS)
            pg.close()
            result += _rows("PostgreSQL, 8 threads", logins, accepts)
            async_logins = asyncio.run(_async_logins(dsn, max(2, count // 32)))
            result += [
                Row("AsyncMfaService.verify (login), PostgreSQL, 64 tasks", async_logins, unit="ops/s"),
                Row("  async 64 tasks / sync 8 threads, logins per second", async_logins / logins, unit="x"),
            ]
    return result
