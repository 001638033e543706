"""Helpers of the MfaService tests: a settable clock, a phone, and the child processes of the race tests.

The children are spawned, so they must live in an importable module, never in a test module.
"""

from __future__ import annotations

import math
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.connection import Connection
from multiprocessing.synchronize import Barrier
from pathlib import Path
from typing import Any

from store_support import BARRIER_TIMEOUT, Backend, enroll, race_each
from totpcore import TOTP, Secret, StoreError
from totpcore.recovery import Argon2Params, generate_codes
from totpcore.sealing import KeyRing
from totpcore.service import MfaService, Policy
from totpcore.store import SQLiteStore, Store
from totpcore.throttle import Throttle

START = 1_700_000_010.0  # 10 s into step 56_666_667
CHEAP_KDF = Argon2Params(memory_kib=8, iterations=1, lanes=1)  # the suite's speed, not production
RING = KeyRing({"k1": bytes(range(32))}, "k1")  # a fixed key ring, for rows built by hand
#: Cheap hashing for speed; a throttle loose enough that every racer is evaluated, so the
#: only thing standing between two racers and two successes is the store's atomicity.
RACE_POLICY = Policy(recovery_kdf=CHEAP_KDF, throttle=Throttle(free_attempts=98, lockout=99))


#: Clock readings no correct server reports: NaN, infinite, negative, 2**64 s or more (an int
#: too large for a float too), or not an int or float at all.
BAD_CLOCKS = (math.nan, math.inf, -math.inf, -1, -0.5, 1e300, 2**64, 10**400, "1700000000", None, True)
RECOVERY_CODE = generate_codes(1)[0]  # well formed, so verify() takes the recovery-code path
#: Every service method that reads the clock, on alice (ENABLED in the tests) or bob (PENDING).
CLOCK_CALLS: dict[str, Callable[[MfaService], object]] = {
    "verify": lambda svc: svc.verify("alice", "123456"),
    "verify_recovery": lambda svc: svc.verify("alice", RECOVERY_CODE),
    "resync": lambda svc: svc.resync("alice", ["123456", "654321"]),
    "confirm_enrollment": lambda svc: svc.confirm_enrollment("bob", "123456"),
    "begin_enrollment": lambda svc: svc.begin_enrollment("bob", account="bob"),
    "regenerate_recovery_codes": lambda svc: svc.regenerate_recovery_codes("alice", "123456"),
    "reset": lambda svc: svc.reset("alice", actor="helpdesk", reason="ticket 1"),
    "state": lambda svc: svc.state("alice"),
    "rotate_keys": lambda svc: svc.rotate_keys(),
}


class Clock:
    """A settable clock: the service reads time only through it."""

    def __init__(self, now: float = START) -> None:
        self.now = now

    def __call__(self) -> float:
        """Read the time."""
        return self.now

    def advance(self, seconds: float) -> None:
        """Let time pass."""
        self.now += seconds


class Spy:
    """A store that records every method called on it, and can run a hook right after one returns."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.calls: list[str] = []
        self.after: dict[str, Callable[[], object]] = {}  # method name -> hook, run once

    def __getattr__(self, name: str) -> Any:  # noqa: ANN401 - stands in for any store method
        method = getattr(self.store, name)

        def recorded(*args: object, **kwargs: object) -> object:
            self.calls.append(name)
            result = method(*args, **kwargs)
            hook = self.after.pop(name, None)
            if hook is not None:
                hook()
            return result

        return recorded


class Phone:
    """An authenticator app whose clock is off by `skew` seconds."""

    def __init__(self, secret_base32: str, clock: Clock, skew: float = 0.0) -> None:
        self.totp = TOTP(Secret.from_base32(secret_base32))
        self.clock = clock
        self.skew = skew

    def code(self, *, steps_later: int = 0) -> str:
        """The code the app shows now (or some steps later)."""
        return self.totp.at(self.clock.now + self.skew + 30 * steps_later)

    def wrong_code(self) -> str:
        """A well-formed code that no step near the phone's clock produces."""
        near = {self.code(steps_later=k) for k in range(-5, 6)}
        return next(c for c in ("918273", "564738", "102938", "847561") if c not in near)


def enrol(service: MfaService, clock: Clock, user: str = "alice") -> tuple[Phone, list[str]]:
    """Enrol *user* through *service* with a phone on *clock*; the phone and the recovery codes."""
    phone = Phone(service.begin_enrollment(user, account=f"{user}@example.org").secret_base32, clock)
    return phone, service.confirm_enrollment(user, phone.code())


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

#: Every contention user has this secret (sealed for each under CONTENTION_RING) and logs in once.
CONTENTION_SECRET = bytes(range(20))
CONTENTION_RING = KeyRing({"k1": bytes(range(32, 64))}, "k1")
#: What a login that did not return counts as.
STORE_ERROR = "StoreError"


@dataclass(frozen=True, slots=True)
class Contention:
    """What many processes logging in distinct users on one SQLite file measured.

    Attributes:
        outcomes: each outcome (or STORE_ERROR) and how often it happened.
        seconds: from the first process leaving the barrier to the last login done.
        latencies: every login's duration in seconds, sorted.
    """

    outcomes: dict[str, int]
    seconds: float
    latencies: tuple[float, ...]

    @property
    def logins(self) -> int:
        """Logins attempted, in all processes."""
        return len(self.latencies)

    def percentile(self, share: float) -> float:
        """The duration that *share* (0 to 1) of the logins did not exceed; 1.0 is the worst."""
        return self.latencies[max(0, round(share * self.logins) - 1)]

    @property
    def store_errors(self) -> int:
        """Logins that raised StoreError."""
        return self.outcomes.get(STORE_ERROR, 0)

    @property
    def throughput(self) -> float:
        """Logins per second over the whole run."""
        return self.logins / self.seconds


def contention_child(path: str, users: list[str], barrier: Barrier, out: Connection) -> None:
    """After the barrier, log each user in once with a valid app code; send (start, end, outcome) each."""
    store = SQLiteStore(path)
    service = MfaService(
        store, issuer="contention", keyring=CONTENTION_RING, clock=lambda: START, audit=lambda _: None
    )
    code = TOTP(Secret(CONTENTION_SECRET)).at(START)
    logins: list[tuple[float, float, str]] = []
    try:
        barrier.wait(BARRIER_TIMEOUT)
        for user in users:
            started = time.monotonic()  # CLOCK_MONOTONIC: one clock for every process of the machine
            try:
                outcome = service.verify(user, code).outcome.value
            except StoreError:
                outcome = STORE_ERROR
            logins.append((started, time.monotonic(), outcome))
        out.send(logins)
    finally:
        store.close()


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
        contention_child, [(str(path), batch) for batch in contention_users(processes, logins)]
    )
    done = [login for report in reports for login in report]
    return Contention(
        outcomes=dict(Counter(outcome for _, _, outcome in done)),
        seconds=max(end for _, end, _ in done) - min(start for start, _, _ in done),
        latencies=tuple(sorted(end - start for start, end, _ in done)),
    )


def ceiling_policy(lockout: int) -> Policy:
    """Only the lockout stands in the way: lockout - 1 free attempts, a 1 ms delay, no BUSY.

    64 Argon2id slots and the longest wait for one, so no recovery-code guess is refused
    as BUSY (uncounted) instead of being evaluated.
    """
    return Policy(
        recovery_kdf=CHEAP_KDF,
        throttle=Throttle(free_attempts=lockout - 1, lockout=lockout, base_delay=0.001),
        kdf_concurrency=64,
        kdf_wait=60.0,
    )


def flood_child(
    backend: Backend,
    keyring_json: str,
    floods: list[tuple[str, int, str]],
    guesses: int,
    barrier: Barrier,
    out: Connection,
) -> None:
    """For each flood (user, lockout, guess): after the barrier, verify *guess* *guesses* times at once.

    Sends, per flood, the (outcome, method) pair of each verify. The clock is the real
    one: a frozen clock would let the 1 ms delay, never elapsing, stop the flood instead of
    the lockout.
    """
    store = backend.open(create=False)
    keyring = KeyRing.from_json(keyring_json)
    try:
        sent = []
        for user_id, lockout, guess in floods:
            service = MfaService(
                store,
                issuer="race",
                keyring=keyring,
                policy=ceiling_policy(lockout),
                clock=time.time,
                audit=lambda _: None,
            )
            barrier.wait(BARRIER_TIMEOUT)
            results = [service.verify(user_id, guess) for _ in range(guesses)]
            sent.append([(r.outcome.value, None if r.method is None else r.method.value) for r in results])
        out.send(sent)
    finally:
        store.close()
