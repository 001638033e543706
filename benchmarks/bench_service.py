"""MfaService.verify: successful logins per second, and its cost over a bare accept_step.

A login is: claim the attempt (one transaction), unseal the secret (AES-256-GCM), verify
the code over a Window(1, 1), record the step (one transaction), emit the audit event to
the ``totpcore.audit`` logger. Every login below is accepted: the clock moves one step per
login and the code is the phone's code for that step (computed before timing).

SQLite: one process. PostgreSQL: a throwaway cluster (fsync on), 8 threads sharing one
service and one store, each thread logging in its own user.
"""

from __future__ import annotations

import tempfile
import threading
from collections.abc import Callable
from pathlib import Path

from harness import CLIENTS, Row, postgres, threaded
from totpcore import TOTP, MfaService, Secret
from totpcore.sealing import KeyRing
from totpcore.store import PostgresStore, SQLiteStore, Store

START = 1_700_000_010.0


class _Clock:
    """One clock per user: each login happens one step after the previous one."""

    def __init__(self) -> None:
        self.now = threading.local()

    def __call__(self) -> float:
        now: float = self.now.value
        return now


def _enrol(service: MfaService, clock: _Clock, user_id: str) -> TOTP:
    clock.now.value = START
    enrollment = service.begin_enrollment(user_id, account=user_id)
    phone = TOTP(Secret.from_base32(enrollment.secret_base32))
    service.confirm_enrollment(user_id, phone.at(START))
    return phone


def _logins(service: MfaService, clock: _Clock, user_id: str, codes: list[str]) -> None:
    for i, code in enumerate(codes, start=1):
        clock.now.value = START + 30 * i
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
    clock, keyring = _Clock(), KeyRing.generate()
    service = MfaService(store, issuer="bench", keyring=keyring, clock=clock, audit=lambda _: None)
    users = [f"u{k}" for k in range(clients)]
    codes = []
    for user_id in users:
        phone = _enrol(service, clock, user_id)
        codes.append([phone.at(START + 30 * i) for i in range(1, count + 1)])

    def rate(work: Callable[[int], None]) -> float:
        return clients * count / threaded(clients, lambda k: store.load(users[k]), work)  # opens connections

    return (
        rate(lambda k: _logins(service, clock, users[k], codes[k])),
        rate(lambda k: _accepts(store, users[k], count)),
    )


def _rows(name: str, logins: float, accepts: float) -> list[Row]:
    return [
        Row(f"MfaService.verify (login), {name}", logins, unit="ops/s"),
        Row(f"bare accept_step, {name}", accepts, unit="ops/s"),
        Row(f"  login time / accept_step time, {name}", accepts / logins, unit="x"),
    ]


def rows(scale: float) -> list[Row]:
    """Logins per second on SQLite (1 process) and PostgreSQL (8 threads)."""
    count = max(30, int(1000 * scale))
    with tempfile.TemporaryDirectory() as root:
        store = SQLiteStore(Path(root) / "bench.db")
        store.create_schema()
        result = _rows("SQLite, 1 process", *_rates(store, count, 1))
        store.close()
    with postgres() as dsn:
        if dsn is not None:
            pg = PostgresStore(dsn)
            pg.create_schema()
            result += _rows("PostgreSQL, 8 threads", *_rates(pg, max(10, count // 4), CLIENTS))
            pg.close()
    return result
