"""MfaService under real concurrency: one code, one recovery code, many racers (issue 7)."""

from __future__ import annotations

import pytest

from service_support import RACE_POLICY, START, app_codes, login_child
from store_support import Backend, race_processes, race_threads
from totpcore import TOTP, Secret
from totpcore.sealing import KeyRing
from totpcore.service import MfaService, Outcome
from totpcore.store import Store

PROCESSES = 8
THREADS = 8
ROUNDS = 5  # one recovery code per round: a set holds five


def enrolled(store: Store, keyring: KeyRing) -> tuple[str, list[str]]:
    """Enrol alice at START; return her secret (base32) and recovery codes."""
    service = MfaService(
        store, issuer="race", keyring=keyring, policy=RACE_POLICY, clock=lambda: START, audit=lambda _: None
    )
    enrollment = service.begin_enrollment("alice", account="alice")
    codes = service.confirm_enrollment("alice", TOTP(Secret.from_base32(enrollment.secret_base32)).at(START))
    return enrollment.secret_base32, codes


def assert_one_winner(per_racer: list[list[str]], losers: set[str]) -> None:
    """Every round has exactly one ACCEPTED; everyone else lost in an expected way."""
    for r in range(ROUNDS):
        outcomes = [racer[r] for racer in per_racer]
        assert outcomes.count(Outcome.ACCEPTED.value) == 1, outcomes
        assert set(outcomes) - {Outcome.ACCEPTED.value} <= losers, outcomes


class TestProcesses:
    """8 processes, each with its own service and connection, released together each round."""

    @pytest.mark.parametrize("backend", ["sqlite", "postgres", "pgbouncer"], indirect=True)
    def test_same_app_code(self, backend: Backend, store: Store) -> None:
        """8 processes log in with the same valid code at once: exactly one ACCEPTED, every round."""
        keyring = KeyRing.generate()
        secret, _ = enrolled(store, keyring)
        attempts = app_codes(secret, ROUNDS)
        results: list[list[str]] = race_processes(
            login_child, (backend, keyring.to_json(), "alice", attempts), PROCESSES
        )
        assert_one_winner(results, {Outcome.REPLAYED.value})

    @pytest.mark.parametrize("backend", ["sqlite", "postgres", "pgbouncer"], indirect=True)
    def test_same_recovery_code(self, backend: Backend, store: Store) -> None:
        """8 processes use the same recovery code at once: exactly one ACCEPTED, every round."""
        keyring = KeyRing.generate()
        _, codes = enrolled(store, keyring)
        results: list[list[str]] = race_processes(
            login_child, (backend, keyring.to_json(), "alice", codes), PROCESSES
        )
        # A racer that claimed after the winner consumed the code no longer holds it: INVALID.
        assert_one_winner(results, {Outcome.REPLAYED.value, Outcome.INVALID.value})
        record = store.load("alice")
        assert record is not None
        assert record.recovery == ()


@pytest.mark.parametrize("backend", ["memory", "sqlite", "postgres", "pgbouncer"], indirect=True)
def test_threads_same_app_code(store: Store) -> None:
    """8 threads sharing one store log in with the same code: exactly one ACCEPTED per round."""
    keyring = KeyRing.generate()
    secret, _ = enrolled(store, keyring)
    codes = app_codes(secret, ROUNDS)

    def attempt(r: int) -> str:
        at = START + 30 * (r + 1)  # the moment of round r, as in login_child
        service = MfaService(
            store, issuer="race", keyring=keyring, policy=RACE_POLICY, clock=lambda: at, audit=lambda _: None
        )
        return service.verify("alice", codes[r]).outcome.value

    rounds = race_threads(THREADS, ROUNDS, attempt)
    per_racer = [[rounds[r][k] for r in range(ROUNDS)] for k in range(THREADS)]
    assert_one_winner(per_racer, {Outcome.REPLAYED.value})
