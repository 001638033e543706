"""Child processes for the MfaService race tests (spawned: they must live in an importable module)."""

from __future__ import annotations

from multiprocessing.connection import Connection
from multiprocessing.synchronize import Barrier

from store_support import BARRIER_TIMEOUT, Backend
from totpcore import TOTP, Secret
from totpcore.recovery import Argon2Params
from totpcore.sealing import KeyRing
from totpcore.service import MfaService, Policy
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
