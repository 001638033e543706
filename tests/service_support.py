"""Child processes for the MfaService race tests (spawned: they must live in an importable module)."""

from __future__ import annotations

from collections import Counter
from multiprocessing.connection import Connection
from multiprocessing.synchronize import Barrier
from pathlib import Path

from contention_child import CONTENTION_RING, CONTENTION_SECRET, Contention, contention_child
from store_support import BARRIER_TIMEOUT, Backend, enroll, race_each
from totpcore import TOTP, Secret
from totpcore.recovery import Argon2Params
from totpcore.sealing import KeyRing
from totpcore.service import MfaService, Policy
from totpcore.store import SQLiteStore
from totpcore.throttle import Throttle

START = 1_700_000_010.0
#: Cheap hashing for speed; a throttle loose enough that every racer is evaluated, so the
#: only thing standing between two racers and two successes is the store's atomicity.
RACE_POLICY = Policy(
    recovery_kdf=Argon2Params(memory_kib=8, iterations=1, lanes=1),
    throttle=Throttle(free_attempts=98, lockout=99),
)


def login_child(
    backend: Backend, keyring_json: str, user_id: str, attempts: list[str], barrier: Barrier, out: Connection
) -> None:
    """Round r: at START + 30 * (r + 1), after the barrier, verify attempts[r]; send the outcomes.

    An attempt of "totp" means the app code of that moment, computed from the user's secret.
    """
    store = backend.open(create=False)
    now = [START]
    service = MfaService(
        store,
        issuer="race",
        keyring=KeyRing.from_json(keyring_json),
        policy=RACE_POLICY,
        clock=lambda: now[0],
        audit=lambda _: None,
    )
    try:
        outcomes = []
        for r, attempt in enumerate(attempts):
            now[0] = START + 30 * (r + 1)
            barrier.wait(BARRIER_TIMEOUT)
            outcomes.append(service.verify(user_id, attempt).outcome.value)
        out.send(outcomes)
    finally:
        store.close()


def app_codes(secret_base32: str, rounds: int) -> list[str]:
    """The app codes login_child's rounds will be at."""
    totp = TOTP(Secret.from_base32(secret_base32))
    return [totp.at(START + 30 * (r + 1)) for r in range(rounds)]


# ---------------------------------------------------------- one SQLite file, many processes (issue 14.5)


def contention_users(processes: int, logins: int) -> list[list[str]]:
    """The users of each process."""
    return [[f"user-{p}-{i}" for i in range(logins)] for p in range(processes)]


def enrol_contention_users(path: Path, processes: int, logins: int) -> None:
    """Create a SQLite database at *path* with every user of contention_users enrolled."""
    store = SQLiteStore(path)
    store.create_schema()
    for user in (user for batch in contention_users(processes, logins) for user in batch):
        enroll(store, user, secret=CONTENTION_RING.seal(CONTENTION_SECRET, user_id=user))
    store.close()


def sqlite_contention(path: Path, processes: int, logins: int) -> Contention:
    """Log each user of enrol_contention_users in once, from *processes* processes at a time."""
    reports: list[list[tuple[float, float, str]]] = race_each(
        contention_child,
        [(str(path), batch, START, BARRIER_TIMEOUT) for batch in contention_users(processes, logins)],
    )
    done = [login for report in reports for login in report]
    return Contention(
        outcomes=dict(Counter(outcome for _, _, outcome in done)),
        seconds=max(end for _, end, _ in done) - min(start for start, _, _ in done),
        latencies=tuple(sorted(end - start for start, end, _ in done)),
    )
