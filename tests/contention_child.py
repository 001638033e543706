"""The child process of the SQLite contention run, kept light: it imports only totpcore (issue 14 part 5).

Sixteen of them start at once, so each import counts (``store_support`` loads psycopg);
``service_support.sqlite_contention`` starts them and sums up what they send.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from multiprocessing.connection import Connection
from multiprocessing.synchronize import Barrier

from totpcore import TOTP, Secret, StoreError
from totpcore.sealing import KeyRing
from totpcore.service import MfaService
from totpcore.store import SQLiteStore

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


def contention_child(
    path: str, users: list[str], at: float, barrier_timeout: float, barrier: Barrier, out: Connection
) -> None:
    """After the barrier, log each user in once with the app code of *at*; send (start, end, outcome) each."""
    store = SQLiteStore(path)
    service = MfaService(
        store, issuer="contention", keyring=CONTENTION_RING, clock=lambda: at, audit=lambda _: None
    )
    code = TOTP(Secret(CONTENTION_SECRET)).at(at)
    logins: list[tuple[float, float, str]] = []
    try:
        barrier.wait(barrier_timeout)
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
