"""MfaService under real concurrency: one code, one recovery code, a flood of guesses (issues 7 and 13)."""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Iterator

import pytest

from service_support import (
    RACE_POLICY,
    START,
    Clock,
    Phone,
    app_codes,
    ceiling_policy,
    flood_child,
    login_child,
)
from store_support import Backend, pg_schema, race_processes, race_threads
from totpcore import TOTP, Secret
from totpcore.recovery import generate_codes
from totpcore.sealing import KeyRing
from totpcore.service import MfaService, Outcome, Policy
from totpcore.store import Status, Store, UserRecord

PROCESSES = 8
THREADS = 8
ROUNDS = 5  # one recovery code per round: a set holds five
GUESSERS = 32
GUESSES = 4  # per guesser and flood: 128 in all, more than either lockout allows
FACTORS = ("app", "recovery")
LOCKOUTS = (10, 100)


def enrolled(
    store: Store, keyring: KeyRing, policy: Policy = RACE_POLICY, user: str = "alice"
) -> tuple[str, list[str]]:
    """Enrol *user* at START; return the secret (base32) and recovery codes."""
    service = MfaService(
        store, issuer="race", keyring=keyring, policy=policy, clock=lambda: START, audit=lambda _: None
    )
    enrollment = service.begin_enrollment(user, account=user)
    codes = service.confirm_enrollment(user, TOTP(Secret.from_base32(enrollment.secret_base32)).at(START))
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


@dataclasses.dataclass(frozen=True)
class Flood:
    """What a flood of wrong guesses left: each guess's (outcome, method), and the user's record."""

    results: list[tuple[str, str | None]]
    record: UserRecord | None


@pytest.fixture(scope="class", params=["sqlite", "postgres"])
def floods(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, Flood]]:
    """One user per factor and lockout, each flooded by GUESSERS processes with GUESSES wrong guesses.

    The processes are spawned once per store (spawning 32 is the slow part) and run the
    four floods one after the other, each behind its own barrier.
    """
    with contextlib.ExitStack() as stack:
        if request.param == "postgres":
            target = stack.enter_context(pg_schema(request.getfixturevalue("pg_dsn")))
        else:
            target = str(tmp_path_factory.mktemp("floods") / "mfa.sqlite3")
        backend = Backend(request.param, target)
        store = backend.open()
        stack.callback(store.close)
        keyring = KeyRing.generate()
        plan = []
        for factor in FACTORS:
            for lockout in LOCKOUTS:
                user = f"{factor}-{lockout}"
                secret, codes = enrolled(store, keyring, ceiling_policy(lockout), user)
                wrong = (
                    Phone(secret, Clock(START)).wrong_code()
                    if factor == "app"
                    else next(code for code in generate_codes(2) if code not in codes)
                )
                plan.append((user, lockout, wrong))
        per_racer: list[list[list[tuple[str, str | None]]]] = race_processes(
            flood_child, (backend, keyring.to_json(), plan, GUESSES), GUESSERS
        )
        yield {
            user: Flood([pair for racer in per_racer for pair in racer[k]], store.load(user))
            for k, (user, _, _) in enumerate(plan)
        }


@pytest.mark.parametrize("lockout", LOCKOUTS)
class TestLockoutCeiling:
    """32 processes flood one user with wrong guesses: exactly `lockout` are evaluated (issue 13.2).

    The throttle gives lockout - 1 free attempts and a 1 ms delay, so nothing but the
    lockout, decided inside the claim, stands between the flood and more evaluations.
    """

    def check(self, flood: Flood, lockout: int) -> None:
        """Exactly `lockout` guesses evaluated (`method` set), none accepted or BUSY; the user LOCKED."""
        assert len(flood.results) == GUESSERS * GUESSES
        evaluated = [outcome for outcome, method in flood.results if method is not None]
        # Never more than the lockout (the ceiling), never fewer (every granted claim is evaluated).
        assert len(evaluated) == lockout, sorted(set(flood.results))
        assert Outcome.ACCEPTED.value not in evaluated
        assert Outcome.BUSY.value not in {outcome for outcome, _ in flood.results}
        assert flood.record is not None
        assert (flood.record.status, flood.record.failures) == (Status.LOCKED, lockout)

    def test_wrong_app_codes(self, floods: dict[str, Flood], lockout: int) -> None:
        """Wrong app codes from 32 processes: exactly `lockout` evaluated, then LOCKED."""
        self.check(floods[f"app-{lockout}"], lockout)

    def test_wrong_recovery_codes(self, floods: dict[str, Flood], lockout: int) -> None:
        """Wrong recovery codes from 32 processes: exactly `lockout` Argon2id checks, then LOCKED."""
        self.check(floods[f"recovery-{lockout}"], lockout)
