"""A flood of recovery-code guesses across accounts against one service (issue 18).

500 concurrent recovery-code guesses, one for each of 500 distinct enrolled users (threads
for MfaService, tasks for AsyncMfaService), with the default Argon2id parameters (19 MiB,
2 passes) and the default bound (``Policy.kdf_concurrency``: the CPU count) and wait
(``Policy.kdf_wait``: 5 s). Each face runs in fresh subprocesses, so its memory figures
are its own. Reported per face:

* the peak RSS growth during the flood (the peak is reset through ``/proc/self/clear_refs``
  just before it starts), against N x the KDF's memory plus a constant for the flood's own
  threads or tasks (checked by ``--check``), with glibc told to return large freed blocks
  to the system at once (``MMAP_TUNING``); and the same with the allocator's defaults,
  which keep freed Argon2id blocks in their arenas (informative: see docs/performance.md);
* the p99 latency of app-code logins of 4 other users (one every 30 ms each, 100 each)
  during the flood against the same logins without it, in the same process;
* for the async face, the worst lag of a ticker task that sleeps 5 ms at a time.

The store is a MemoryStore (in an AsyncStoreAdapter for the async face), so the figures
are about the gate, not a database. Users are seeded through the store as
``confirm_enrollment`` stores them (sealed secret, sealed digests, one parameter string
with the default Argon2id parameters): a wrong guess costs one Argon2id evaluation
whatever the digests hold, and seeding 500 sets for real would cost 2,500 evaluations.
"""

from __future__ import annotations

import asyncio
import contextvars
import gc
import json
import os
import re
import secrets
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass
from pathlib import Path

from harness import TIMEOUT, Row
from totpcore import TOTP, Secret, recovery
from totpcore.sealing import KeyRing
from totpcore.service import AsyncMfaService, LoginResult, MfaService, Policy
from totpcore.service._flow import _digest_context
from totpcore.store import AsyncStoreAdapter, MemoryStore, Store

START = 1_700_000_010.0
APP_USERS = 4
APP_LOGINS = 100
APP_PACE = 0.03
TICK = 0.005
#: What the flood itself may add beyond N x the KDF memory: its threads' stacks or its
#: tasks (measured with a tiny KDF: 10 MiB for 500 threads, 2 MiB for 500 tasks).
FLOOD_ALLOWANCE_MIB = 16
#: glibc keeps a freed block below its (dynamic) mmap threshold in the arena that served
#: it; Argon2id's blocks then stay resident in several arenas. A fixed threshold below
#: the KDF's memory returns each block to the system when freed (mallopt(3)).
MMAP_TUNING = {"MALLOC_MMAP_THRESHOLD_": str(1024 * 1024)}
#: The time each app user's clock shows: a context variable, so every thread and task has its own.
NOW: contextvars.ContextVar[float] = contextvars.ContextVar("now", default=START)


@dataclass(frozen=True, slots=True)
class Figures:
    """What one face's subprocess measured."""

    face: str
    users: int
    slots: int
    kdf_mib: float
    rss_growth_mib: float
    evaluated: int
    busy: int
    flood_seconds: float
    p99_alone_ms: float
    p99_flood_ms: float
    lag_alone_ms: float | None
    lag_flood_ms: float | None


def _status_mib(field: str) -> float:
    """A memory field of /proc/self/status (VmRSS, VmHWM), in MiB."""
    text = Path("/proc/self/status").read_text(encoding="ascii")
    match = re.search(rf"^{field}:\s+(\d+) kB", text, re.MULTILINE)
    assert match is not None
    return int(match.group(1)) / 1024


def _reset_peak() -> float:
    """Reset the peak RSS to the current RSS (Linux: clear_refs 5) and return it, in MiB."""
    gc.collect()
    Path("/proc/self/clear_refs").write_text("5", encoding="ascii")
    return _status_mib("VmRSS")


def _seed(store: Store, keyring: KeyRing, users: list[str]) -> dict[str, TOTP]:
    """Enable MFA for *users* as confirm_enrollment would; return each user's phone."""
    params = recovery.hash_codes(recovery.generate_codes(1), context=b"seed", sealed=True).params
    phones = {}
    for user in users:
        secret, enrollment_id = Secret.generate(20), secrets.token_hex(16)
        assert store.begin(
            user,
            enrollment_id=enrollment_id,
            sealed_secret=keyring.seal(bytes(secret), user_id=user),
            key_id=keyring.current,
            digits=6,
            period=30,
            algorithm="SHA1",
            now=START,
        )
        digests = [
            keyring.seal(secrets.token_bytes(recovery.DIGEST_BYTES), user_id=user, context=_digest_context(i))
            for i in range(recovery.DEFAULT_COUNT)
        ]
        assert store.activate(
            user, enrollment_id=enrollment_id, step=0, recovery_params=params, digests=digests, now=START
        )
        phones[user] = TOTP(secret)
    return phones


def _population(users: int) -> tuple[MemoryStore, KeyRing, dict[str, TOTP], list[str], list[str]]:
    """A store and key ring with the app users (and their phones), *users* flood users and one guess each."""
    store, keyring = MemoryStore(), KeyRing.generate()
    apps = _seed(store, keyring, [f"app{k}" for k in range(APP_USERS)])
    flood_users = [f"f{k}" for k in range(users)]
    _seed(store, keyring, flood_users)
    guesses = [recovery.generate_codes(1)[0] for _ in range(users)]
    return store, keyring, apps, flood_users, guesses


def _app_plan(phones: dict[str, TOTP], first_login: int) -> dict[str, list[tuple[float, str]]]:
    """For each app user, APP_LOGINS (time, code) pairs, one step apart, from *first_login* on."""
    return {
        user: [
            (START + 30 * k, phone.at(int(START) + 30 * k))
            for k in range(first_login, first_login + APP_LOGINS)
        ]
        for user, phone in phones.items()
    }


def _p99(latencies: list[float]) -> float:
    return sorted(latencies)[int(0.99 * (len(latencies) - 1))] * 1000


# ---------------------------------------------------------------- the sync face


def _sync_app_client(service: MfaService, user: str, plan: list[tuple[float, str]], out: list[float]) -> None:
    for now, code in plan:
        NOW.set(now)
        began = time.perf_counter()
        assert service.verify(user, code).ok
        out.append(time.perf_counter() - began)
        time.sleep(APP_PACE)


def _sync_app_round(
    service: MfaService, plans: dict[str, list[tuple[float, str]]]
) -> Callable[[], list[float]]:
    """Start the app clients' threads; return a function that waits for them and gives the latencies."""
    latencies: list[float] = []
    threads = [
        threading.Thread(target=_sync_app_client, args=(service, user, plan, latencies))
        for user, plan in plans.items()
    ]
    for thread in threads:
        thread.start()

    def join() -> list[float]:
        for thread in threads:
            thread.join(TIMEOUT)
        return latencies

    return join


def _sync_face(users: int) -> Figures:
    store, keyring, apps, flood_users, guesses = _population(users)
    service = MfaService(store, issuer="flood", keyring=keyring, clock=NOW.get, audit=lambda _: None)
    alone = _sync_app_round(service, _app_plan(apps, 1))()

    go, counting, outcomes = threading.Event(), threading.Lock(), Counter[str]()

    def guess(user: str, code: str) -> None:
        go.wait(TIMEOUT)
        outcome = service.verify(user, code).outcome.value
        with counting:
            outcomes[outcome] += 1

    flood = [threading.Thread(target=guess, args=pair) for pair in zip(flood_users, guesses, strict=True)]
    base = _reset_peak()
    for thread in flood:
        thread.start()
    began = time.perf_counter()
    go.set()
    during = _sync_app_round(service, _app_plan(apps, 1 + APP_LOGINS))
    for thread in flood:
        thread.join(TIMEOUT)
    elapsed = time.perf_counter() - began
    with_flood = during()
    return _figures(
        "sync",
        users=users,
        policy=service.policy,
        growth=_status_mib("VmHWM") - base,
        outcomes=outcomes,
        elapsed=elapsed,
        alone=alone,
        with_flood=with_flood,
    )


# ---------------------------------------------------------------- the async face


async def _async_app_client(
    service: AsyncMfaService, user: str, plan: list[tuple[float, str]], out: list[float]
) -> None:
    for now, code in plan:
        NOW.set(now)
        began = time.perf_counter()
        assert (await service.verify(user, code)).ok
        out.append(time.perf_counter() - began)
        await asyncio.sleep(APP_PACE)


async def _ticker(stop: asyncio.Event) -> float:
    """The worst lateness, in ms, of a TICK-second sleep until *stop* is set."""
    loop, worst = asyncio.get_running_loop(), 0.0
    while not stop.is_set():
        began = loop.time()
        await asyncio.sleep(TICK)
        worst = max(worst, loop.time() - began - TICK)
    return worst * 1000


async def _async_app_round(
    service: AsyncMfaService, plans: dict[str, list[tuple[float, str]]], *others: Awaitable[object]
) -> tuple[list[float], float]:
    """Run the app clients (and *others*) to the end with a ticker; (latencies, worst lag)."""
    latencies: list[float] = []
    stop = asyncio.Event()
    ticker = asyncio.create_task(_ticker(stop))
    await asyncio.gather(
        *(_async_app_client(service, user, plan, latencies) for user, plan in plans.items()), *others
    )
    stop.set()
    return latencies, await ticker


async def _async_main(users: int) -> Figures:
    store, keyring, apps, flood_users, guesses = _population(users)
    service = AsyncMfaService(
        AsyncStoreAdapter(store), issuer="flood", keyring=keyring, clock=NOW.get, audit=lambda _: None
    )
    alone, lag_alone = await _async_app_round(service, _app_plan(apps, 1))

    outcomes = Counter[str]()

    async def guess(user: str, code: str) -> None:
        result: LoginResult = await service.verify(user, code)
        outcomes[result.outcome.value] += 1

    base = _reset_peak()
    began = time.perf_counter()
    flood = asyncio.gather(*(guess(user, code) for user, code in zip(flood_users, guesses, strict=True)))
    timed = asyncio.ensure_future(_timed(flood))
    with_flood, lag_flood = await _async_app_round(service, _app_plan(apps, 1 + APP_LOGINS), timed)
    elapsed = timed.result() - began
    growth = _status_mib("VmHWM") - base
    await service.close()
    return _figures(
        "async",
        users=users,
        policy=service.policy,
        growth=growth,
        outcomes=outcomes,
        elapsed=elapsed,
        alone=alone,
        with_flood=with_flood,
        lag_alone=lag_alone,
        lag_flood=lag_flood,
    )


async def _timed(flood: Awaitable[object]) -> float:
    """Await *flood*; return when it ended (perf_counter)."""
    await flood
    return time.perf_counter()


def _figures(
    face: str,
    *,
    users: int,
    policy: Policy,
    growth: float,
    outcomes: Counter[str],
    elapsed: float,
    alone: list[float],
    with_flood: list[float],
    lag_alone: float | None = None,
    lag_flood: float | None = None,
) -> Figures:
    """Check the flood's outcomes (each guess evaluated or refused as BUSY) and gather the figures."""
    assert sum(outcomes.values()) == users
    assert set(outcomes) <= {"invalid", "busy"}, outcomes
    return Figures(
        face=face,
        users=users,
        slots=policy.kdf_slots,
        kdf_mib=policy.recovery_kdf.memory_kib / 1024,
        rss_growth_mib=growth,
        evaluated=outcomes["invalid"],
        busy=outcomes["busy"],
        flood_seconds=elapsed,
        p99_alone_ms=_p99(alone),
        p99_flood_ms=_p99(with_flood),
        lag_alone_ms=lag_alone,
        lag_flood_ms=lag_flood,
    )


# ---------------------------------------------------------------- the section


def _run_face(face: str, users: int, *, malloc_env: dict[str, str]) -> Figures:
    """Measure one face in a fresh interpreter, with *malloc_env* added to its environment."""
    done = subprocess.run(  # noqa: S603 - this very file, with the running interpreter
        [sys.executable, __file__, face, str(users)],
        capture_output=True,
        text=True,
        timeout=TIMEOUT * 5,
        check=True,
        env={**os.environ, **malloc_env, "PYTHONPATH": str(Path(__file__).resolve().parent)},
    )
    return Figures(**json.loads(done.stdout))


def _rows(f: Figures, tuned: Figures) -> list[Row]:
    """The flood's rows for one face: *f* with the C allocator's defaults, *tuned* with MMAP_TUNING."""
    bound = f.slots * f.kdf_mib + FLOOD_ALLOWANCE_MIB
    rows = [
        Row(
            f"flood {f.face}: peak RSS growth, {f.users} guesses",
            tuned.rss_growth_mib,
            peer=f"bound {f.slots} x {f.kdf_mib:g} + {FLOOD_ALLOWANCE_MIB} MiB",
            peer_us=bound,
            target=1.0,
            unit="MiB",
        ),
        Row("  the same, the C allocator's defaults", f.rss_growth_mib, unit="MiB"),
        Row(f"  evaluated / BUSY, in seconds: {f.evaluated} / {f.busy}", f.flood_seconds, unit="s"),
        Row(f"  app-code login p99 with the flood ({f.face})", f.p99_flood_ms, unit="ms"),
        Row(f"  app-code login p99 without it ({f.face})", f.p99_alone_ms, unit="ms"),
        Row("  p99 with / without the flood (aim < 3x)", f.p99_flood_ms / f.p99_alone_ms, unit="x"),
    ]
    if f.lag_flood_ms is not None and f.lag_alone_ms is not None:
        rows.append(Row("  event loop worst lag, flood (aim < 50 ms)", f.lag_flood_ms, unit="ms"))
        rows.append(Row("  event loop worst lag, no flood", f.lag_alone_ms, unit="ms"))
    return rows


def rows(scale: float) -> list[Row]:
    """Memory, app-code latency and loop lag under a flood of recovery-code guesses, per face."""
    users = max(50, int(500 * scale))
    return [
        row
        for face in ("sync", "async")
        for row in _rows(
            _run_face(face, users, malloc_env={}), _run_face(face, users, malloc_env=MMAP_TUNING)
        )
    ]


def _main() -> None:
    face, users = sys.argv[1], int(sys.argv[2])
    run: Callable[[int], Figures] = _sync_face if face == "sync" else lambda n: asyncio.run(_async_main(n))
    print(json.dumps(asdict(run(users))))


if __name__ == "__main__":
    _main()
