"""Setup in one call, and the login decision (issue 15, parts 1 and 2)."""

from __future__ import annotations

import asyncio
import logging
import stat
from collections.abc import Callable
from pathlib import Path

import pytest

from helpers import record_calls
from service_support import CHEAP_KDF, Clock, Phone
from store_support import pg_schema, pg_url, race_threads
from totpcore import (
    AsyncMfaService,
    AuditEvent,
    ConfigurationError,
    InvalidCode,
    KeyRing,
    MfaService,
    MfaState,
    Outcome,
    Policy,
    PolicyError,
    Requirement,
    Status,
    StoreError,
    Throttle,
    open_async_service,
    open_service,
)
from totpcore.service import load_key_ring
from totpcore.store import AsyncStoreAdapter, MemoryStore, SQLiteStore

START = 1_767_225_610.0
POLICY = Policy(recovery_kdf=CHEAP_KDF)


class TestOpenService:
    """open_service: store, schema, key ring and service from one call."""

    def test_sqlite_with_a_new_key(self, tmp_path: Path) -> None:
        """create_key writes a 0600 key file; the schema exists; the service works and can be reopened."""
        key_file, db = tmp_path / "mfa.key", tmp_path / "mfa.db"
        events: list[AuditEvent] = []
        with open_service(
            f"sqlite:///{db}", key_file=key_file, issuer="Outsmart EMR", create_key=True, policy=POLICY,
            audit=events.append,
        ) as svc:  # fmt: skip
            assert isinstance(svc, MfaService)
            enrollment = svc.begin_enrollment("alice", account="alice")
            assert enrollment.uri.startswith("otpauth://totp/Outsmart%20EMR:alice?")
        assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
        again = open_service(f"sqlite:///{db}", key_file=key_file, issuer="Outsmart EMR", audit=events.append)
        assert again.status("alice") is Status.PENDING
        assert again.keyring.key_ids == KeyRing.from_file(key_file).key_ids
        again.close()

    def test_postgres(self, pg_dsn: str, tmp_path: Path) -> None:
        """A postgresql:// URL (with a pool size) gives a working service with its schema."""
        with pg_schema(pg_dsn) as dsn:
            url = pg_url(dsn)
            svc = open_service(
                f"{url}&pool_size=2", key_file=tmp_path / "k", issuer="x", create_key=True, audit=print
            )
            assert svc.status("alice") is Status.NONE
            svc.close()

    def test_missing_key_file_without_create_key(self, tmp_path: Path) -> None:
        """Without create_key a missing key file is a ConfigurationError; nothing is created."""
        with pytest.raises(ConfigurationError, match="key file"):
            open_service("memory://", key_file=tmp_path / "nope.key", issuer="x", audit=print)
        assert not (tmp_path / "nope.key").exists()

    def test_an_existing_key_is_kept(self, tmp_path: Path) -> None:
        """create_key never replaces a key file that exists (a lost key loses every secret)."""
        key_file = tmp_path / "mfa.key"
        ring = KeyRing.generate("k-original")
        ring.save(key_file)
        svc = open_service("memory://", key_file=key_file, issuer="x", create_key=True, audit=print)
        assert svc.keyring.key_ids == ("k-original",)

    def test_racing_creators_share_one_key(self, tmp_path: Path) -> None:
        """Eight processes starting at once with create_key end up with the same ring."""
        key_file = tmp_path / "mfa.key"
        [rings] = race_threads(8, 1, lambda _: load_key_ring(key_file, create=True).key_ids)
        assert len(rings) == 8
        assert len(set(rings)) == 1

    def test_an_unwritable_directory_is_reported(self, tmp_path: Path) -> None:
        """create_key into a directory that does not exist is a ConfigurationError naming the file."""
        with pytest.raises(ConfigurationError, match="cannot create the key file"):
            load_key_ring(tmp_path / "missing" / "mfa.key", create=True)

    def test_a_bad_url_leaves_nothing_open(self, tmp_path: Path) -> None:
        """An unknown scheme is refused after the key loads; a failing schema closes the store."""
        key_file = tmp_path / "k"
        KeyRing.generate().save(key_file)
        with pytest.raises(ConfigurationError, match="sqlite:///"):
            open_service("sqlite://mfa.db", key_file=key_file, issuer="x", audit=print)
        (tmp_path / "not-a-db").write_bytes(b"garbage" * 1000)
        with pytest.raises(StoreError):
            open_service(f"sqlite:///{tmp_path / 'not-a-db'}", key_file=key_file, issuer="x", audit=print)

    @pytest.mark.parametrize("opener", [open_service, open_async_service])
    def test_service_arguments_are_checked_and_the_store_closed(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, opener: Callable[..., object]
    ) -> None:
        """A bad issuer fails after the schema exists, and the store (the adapter's, async) is closed."""
        closed = record_calls(monkeypatch, SQLiteStore, "close")
        with pytest.raises(ConfigurationError, match="issuer"):
            opener(
                f"sqlite:///{tmp_path / 'x.db'}",
                key_file=tmp_path / "k",
                issuer="",
                create_key=True,
                audit=print,
            )
        assert len(closed) == 1

    def test_keyring_is_importable_from_the_package(self) -> None:
        """KeyRing is a top-level name."""
        assert KeyRing.__module__ == "totpcore.sealing"


class TestOpenAsyncService:
    """open_async_service: the same, returning the async face."""

    @pytest.mark.parametrize("scheme", ["memory", "sqlite"])
    def test_memory_and_sqlite(self, tmp_path: Path, scheme: str) -> None:
        """The blocking store sits behind an adapter; the schema is there before the first await."""
        url = "memory://" if scheme == "memory" else f"sqlite:///{tmp_path / 'a.db'}"
        svc = open_async_service(url, key_file=tmp_path / "k", issuer="x", create_key=True, audit=print)
        assert isinstance(svc, AsyncMfaService)
        assert isinstance(svc._store, AsyncStoreAdapter)

        async def body() -> Status:
            async with svc:
                return await svc.status("alice")

        assert asyncio.run(body()) is Status.NONE

    def test_postgres(self, pg_dsn: str, tmp_path: Path) -> None:
        """PostgreSQL gets the async store; the schema was made with a short blocking connection."""
        with pg_schema(pg_dsn) as dsn:
            svc = open_async_service(
                pg_url(dsn), key_file=tmp_path / "k", issuer="x", create_key=True, audit=print
            )

            async def body() -> Status:
                async with svc:
                    return await svc.status("alice")

            assert asyncio.run(body()) is Status.NONE


class TestFaceArguments:
    """Both faces check the clock and the sink, and name their store without secrets."""

    def test_clock_and_audit_must_be_callable(self) -> None:
        """A clock or a sink that cannot be called is a TypeError at construction."""
        with pytest.raises(TypeError, match="clock"):
            MfaService(MemoryStore(), issuer="x", keyring=KeyRing.generate(), clock=5.0, audit=print)  # type: ignore[arg-type]
        with pytest.raises(TypeError, match="audit"):
            MfaService(MemoryStore(), issuer="x", keyring=KeyRing.generate(), audit="log")  # type: ignore[arg-type]

    def test_repr(self) -> None:
        """The repr names the store and the issuer, nothing else."""
        store = MemoryStore()
        assert repr(MfaService(store, issuer="EMR", keyring=KeyRing.generate(), audit=print)) == (
            "MfaService(MemoryStore(<0 users>), issuer='EMR')"
        )
        assert (
            repr(
                AsyncMfaService(
                    AsyncStoreAdapter(store), issuer="EMR", keyring=KeyRing.generate(), audit=print
                )
            )
            == "AsyncMfaService(AsyncStoreAdapter(MemoryStore(<0 users>)), issuer='EMR')"
        )

    def test_a_failing_async_postgres_setup_leaves_nothing_open(self, pg_dsn: str, tmp_path: Path) -> None:
        """A bad issuer after the schema was made: nothing async was opened, nothing is left."""
        with pg_schema(pg_dsn) as dsn, pytest.raises(ConfigurationError, match="issuer"):
            open_async_service(pg_url(dsn), key_file=tmp_path / "k", issuer="", create_key=True, audit=print)


class TestDefaultAuditSink:
    """The default sink logs, and refuses to start where the records would be lost."""

    def test_refused_without_logging(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """No handler at INFO for totpcore.audit: ConfigurationError at construction."""
        logger = logging.getLogger("totpcore.audit")
        monkeypatch.setattr(logger, "level", logging.WARNING)
        with pytest.raises(ConfigurationError, match="audit events would be lost"):
            MfaService(MemoryStore(), issuer="x", keyring=KeyRing.generate())

    def test_used_once_logging_is_configured(self, caplog: pytest.LogCaptureFixture) -> None:
        """With logging at INFO the service starts and each event is one record."""
        with caplog.at_level(logging.INFO, logger="totpcore.audit"):
            svc = MfaService(MemoryStore(), issuer="x", keyring=KeyRing.generate(), policy=POLICY)
            svc.verify("nobody", "123456")
        assert [record.getMessage() for record in caplog.records] == [
            "login user=nobody outcome=not_enrolled"
        ]


class TestRequirement:
    """The login decision and the status page."""

    def world(self, **policy: object) -> tuple[MfaService, Clock]:
        """A service on a MemoryStore with a settable clock and the given policy fields."""
        clock = Clock(START)
        fields: dict[str, object] = {"recovery_kdf": CHEAP_KDF}
        rules = Policy(**fields, **policy)  # type: ignore[arg-type]
        svc = MfaService(
            MemoryStore(), issuer="x", keyring=KeyRing.generate(), policy=rules, clock=clock, audit=print
        )
        return svc, clock

    def test_each_status(self) -> None:
        """NONE and PENDING need nothing (not mandatory); ENABLED needs a code; LOCKED needs support."""
        svc, clock = self.world(throttle=Throttle(free_attempts=0, lockout=1, base_delay=1.0))
        assert svc.requirement("u") is Requirement.NONE
        enrollment = svc.begin_enrollment("u", account="u")
        assert svc.requirement("u") is Requirement.NONE
        svc.confirm_enrollment("u", Phone(enrollment.secret_base32, clock).code())
        assert svc.requirement("u") is Requirement.CODE
        assert svc.verify("u", "000000").outcome is Outcome.LOCKED
        assert svc.requirement("u") is Requirement.SUPPORT

    def test_mandatory_from(self) -> None:
        """From mandatory_from on, a user without enabled MFA (pending included) must enrol."""
        svc, clock = self.world(mandatory_from=START + 100)
        assert svc.requirement("u") is Requirement.NONE
        clock.now = START + 100
        assert svc.requirement("u") is Requirement.ENROLL
        svc.begin_enrollment("u", account="u")
        assert svc.requirement("u") is Requirement.ENROLL

    def test_state(self) -> None:
        """MfaState: status, requirement, enabled_at, codes left and the wait, as the pages need them."""
        svc, clock = self.world(throttle=Throttle(free_attempts=1, base_delay=8.0))
        assert svc.state("u") == MfaState(Status.NONE, Requirement.NONE, None, None, 0.0)
        enrollment = svc.begin_enrollment("u", account="u")
        assert svc.state("u") == MfaState(Status.PENDING, Requirement.NONE, None, None, 0.0)
        codes = svc.confirm_enrollment("u", Phone(enrollment.secret_base32, clock).code())
        clock.now += 60
        assert svc.verify("u", codes[0]).ok
        assert svc.state("u") == MfaState(Status.ENABLED, Requirement.CODE, START, 4, 0.0)
        svc.verify("u", "000000")
        svc.verify("u", "000000")
        clock.now += 3
        assert svc.state("u").retry_after == 5.0

    def test_policy_error_carries_outcome_and_wait(self) -> None:
        """Throttled and locked refusals are PolicyErrors with outcome and wait; disable has neither."""
        svc, clock = self.world(throttle=Throttle(free_attempts=0, lockout=2, base_delay=30.0))
        enrollment = svc.begin_enrollment("u", account="u")
        phone = Phone(enrollment.secret_base32, clock)
        with pytest.raises(InvalidCode):
            svc.confirm_enrollment("u", phone.wrong_code())
        with pytest.raises(PolicyError) as throttled:
            svc.confirm_enrollment("u", phone.code())
        assert (throttled.value.outcome, throttled.value.retry_after) == (Outcome.THROTTLED, 30.0)
        assert "retry in 30 s" in str(throttled.value)
        clock.now += 30
        svc.confirm_enrollment("u", phone.code())
        for _ in range(2):
            clock.now += 30
            svc.verify("u", phone.wrong_code())
        with pytest.raises(PolicyError) as locked:
            svc.regenerate_recovery_codes("u", phone.code())
        assert (locked.value.outcome, locked.value.retry_after) == (Outcome.LOCKED, 0.0)
        with pytest.raises(PolicyError) as never:
            svc.disable("u")
        assert (never.value.outcome, never.value.retry_after) == (None, 0.0)
