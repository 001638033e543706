"""MfaService end to end with a fake clock, on every store (issue 7)."""

from __future__ import annotations

import contextlib
import dataclasses
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from helpers import record_calls
from service_support import CHEAP_KDF, Clock, Phone, enrol
from store_support import Backend, pg_schema
from totpcore import (
    Algorithm,
    ConfigurationError,
    EnrollmentError,
    InvalidCode,
    MalformedCode,
    PolicyError,
    ReplayedCode,
    Secret,
    StoreError,
    Window,
)
from totpcore.hotp import _KeyedOtp
from totpcore.sealing import KeyRing
from totpcore.service import (
    AuditEvent,
    EventType,
    KeyRotation,
    LoginResult,
    Method,
    MfaService,
    Outcome,
    Policy,
)
from totpcore.store import MemoryStore, SQLiteStore, Status, Store
from totpcore.throttle import Throttle

POLICY = Policy(recovery_kdf=CHEAP_KDF)


@dataclasses.dataclass
class World:
    """A service over one store, with its clock, its audit trail and its key ring."""

    service: MfaService
    store: Store
    clock: Clock
    events: list[AuditEvent]
    keyring: KeyRing

    def enrol(self, user: str = "alice") -> tuple[Phone, list[str]]:
        """Enrol *user* with a new phone; return the phone and the recovery codes."""
        return enrol(self.service, self.clock, user)

    def next_step(self) -> None:
        """Move on by one 30 s step."""
        self.clock.advance(30)


@pytest.fixture(params=["memory", "sqlite", "postgres"])
def any_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    """Each kind of store, empty, with its schema."""
    with contextlib.ExitStack() as stack:
        target = str(tmp_path / "mfa.sqlite3")
        if request.param == "postgres":
            target = stack.enter_context(pg_schema(request.getfixturevalue("pg_dsn")))
        store = Backend(request.param, target).open()
        stack.callback(store.close)
        yield store


@pytest.fixture
def world(any_store: Store) -> World:
    """A service on each kind of store."""
    clock, keyring = Clock(), KeyRing({"k1": bytes(range(32))}, "k1")
    events: list[AuditEvent] = []
    service = MfaService(
        any_store, issuer="Outsmart EMR", keyring=keyring, policy=POLICY, clock=clock, audit=events.append
    )
    return World(service, any_store, clock, events, keyring)


def aligned(world: World) -> None:
    """Move the clock to the start of a step, far from the previous one."""
    world.clock.now = (int(world.clock.now) // 30 + 1000) * 30


class TestWholeFlow:
    """The scenario of issue 7, step by step, on every store."""

    def test_scenario(self, world: World) -> None:  # noqa: PLR0915  # one story, told in order
        """Enrol, log in, replay, recovery, drift, resync, throttle, lock, reset, enrol again."""
        svc, clock = world.service, world.clock
        assert svc.status("alice") is Status.NONE

        # enrol -> confirm: the confirming code is consumed
        enrollment = svc.begin_enrollment("alice", account="alice@example.org")
        assert svc.status("alice") is Status.PENDING
        assert enrollment.uri.startswith("otpauth://totp/Outsmart%20EMR:alice%40example.org?")
        phone = Phone(enrollment.secret_base32, clock)
        codes = svc.confirm_enrollment("alice", phone.code())
        assert len(codes) == 5
        assert svc.status("alice") is Status.ENABLED
        assert svc.verify("alice", phone.code()).outcome is Outcome.REPLAYED

        # login -> the same code again refused
        world.next_step()
        first = svc.verify("alice", phone.code())
        assert first == LoginResult(Outcome.ACCEPTED, Method.TOTP)
        assert first.ok
        assert svc.verify("alice", phone.code()).outcome is Outcome.REPLAYED

        # recovery code: 4 left; the same one refused
        used = svc.verify("alice", codes[0].lower().replace("-", " "))
        assert used == LoginResult(Outcome.ACCEPTED, Method.RECOVERY, recovery_codes_left=4)
        assert svc.verify("alice", codes[0]) == LoginResult(Outcome.INVALID, Method.RECOVERY)

        # phone 40 s fast: accepted at offset +1, drift learned
        aligned(world)
        phone.skew = 40
        assert svc.verify("alice", phone.code()).ok
        assert world.events[-1].offset == 1
        record = world.store.load("alice")
        assert record is not None
        assert record.drift == 1

        # now 70 s fast: the default window alone refuses it; the learned drift accepts it
        aligned(world)
        phone.skew = 70
        with pytest.raises(InvalidCode):
            phone.totp.verify(phone.code(), at=clock.now, window=Window())
        assert svc.verify("alice", phone.code()).ok
        assert world.events[-1].offset == 2

        # a phone 3 h wrong is refused, then fixed by resync with two consecutive codes
        aligned(world)
        phone.skew = -3 * 3600
        assert svc.verify("alice", phone.code()).outcome is Outcome.INVALID
        resynced = svc.resync("alice", [phone.code(), phone.code(steps_later=1)])
        assert resynced.ok
        assert world.events[-1].offset == -359
        world.next_step()
        world.next_step()
        assert svc.verify("alice", phone.code()).ok  # the far-off phone keeps working

        # brute force: free attempts, then throttled, then LOCKED at the ceiling
        outcomes, wrong = [], phone.wrong_code()
        for _ in range(POLICY.throttle.lockout):
            result = svc.verify("alice", wrong)
            while result.outcome is Outcome.THROTTLED:
                assert result.retry_after > 0
                clock.advance(result.retry_after)
                result = svc.verify("alice", wrong)
            outcomes.append(result.outcome)
        assert outcomes[:-1] == [Outcome.INVALID] * (POLICY.throttle.lockout - 1)
        assert outcomes[-1] is Outcome.LOCKED
        assert svc.status("alice") is Status.LOCKED
        world.next_step()
        assert svc.verify("alice", phone.code()).outcome is Outcome.LOCKED
        assert svc.verify("alice", codes[1]).outcome is Outcome.LOCKED

        # support reset, then enrol again
        svc.reset("alice", actor="support:bob", reason="ticket 4711: lost phone")
        assert svc.status("alice") is Status.NONE
        assert svc.verify("alice", phone.code()).outcome is Outcome.NOT_ENROLLED
        assert svc.verify("alice", codes[1]).outcome is Outcome.NOT_ENROLLED
        new_phone, new_codes = world.enrol("alice")
        assert svc.status("alice") is Status.ENABLED
        assert not set(new_codes) & set(codes)
        world.next_step()
        assert svc.verify("alice", new_phone.code()).ok


class TestEnrolment:
    """begin / confirm."""

    def test_begin_twice_replaces_the_pending_secret(self, world: World) -> None:
        """The last QR code shown wins; the first one no longer confirms."""
        svc = world.service
        first = svc.begin_enrollment("alice", account="alice")
        second = svc.begin_enrollment("alice", account="alice")
        assert first.secret_base32 != second.secret_base32
        with pytest.raises(InvalidCode):
            svc.confirm_enrollment("alice", Phone(first.secret_base32, world.clock).code())
        assert len(svc.confirm_enrollment("alice", Phone(second.secret_base32, world.clock).code())) == 5

    def test_enabled_user_cannot_begin_again(self, world: World) -> None:
        """Re-enrolling needs a support reset: otherwise it would be a way to disable MFA."""
        world.enrol()
        with pytest.raises(EnrollmentError, match="support reset"):
            world.service.begin_enrollment("alice", account="alice")

    def test_confirm_without_begin(self, world: World) -> None:
        """Nothing pending, nothing to confirm."""
        with pytest.raises(EnrollmentError, match="no pending"):
            world.service.confirm_enrollment("alice", "123456")

    def test_confirm_with_a_wrong_code(self, world: World) -> None:
        """A wrong or malformed code leaves MFA pending, and counts against the throttle."""
        svc = world.service
        phone = Phone(svc.begin_enrollment("alice", account="alice").secret_base32, world.clock)
        with pytest.raises(MalformedCode):
            svc.confirm_enrollment("alice", "12345")
        with pytest.raises(InvalidCode):
            svc.confirm_enrollment("alice", phone.wrong_code())
        assert svc.status("alice") is Status.PENDING
        record = world.store.load("alice")
        assert record is not None
        assert record.failures == 2

    def test_confirm_is_throttled(self, world: World) -> None:
        """Guessing the confirmation code is throttled like a login."""
        svc = world.service
        phone = Phone(svc.begin_enrollment("alice", account="alice").secret_base32, world.clock)
        for _ in range(POLICY.throttle.free_attempts + 1):
            with pytest.raises(InvalidCode):
                svc.confirm_enrollment("alice", phone.wrong_code())
        with pytest.raises(PolicyError, match="retry in"):
            svc.confirm_enrollment("alice", phone.code())

    def test_pending_user_cannot_log_in(self, world: World) -> None:
        """A secret that was never confirmed is not a second factor."""
        enrollment = world.service.begin_enrollment("alice", account="alice")
        code = Phone(enrollment.secret_base32, world.clock).code()
        assert world.service.verify("alice", code).outcome is Outcome.NOT_ENROLLED

    def test_enrollment_repr_hides_the_secret(self, world: World) -> None:
        """The URI and the base32 secret never reach a log through repr."""
        enrollment = world.service.begin_enrollment("alice", account="alice")
        assert enrollment.secret_base32 not in repr(enrollment)
        assert "otpauth" not in repr(enrollment)

    def test_qr_svg(self, world: World) -> None:
        """The enrolment renders as an SVG QR code (extra "qr")."""
        svg = world.service.begin_enrollment("alice", account="alice").qr_svg()
        assert "<svg" in svg

    def test_account_with_a_colon(self, world: World) -> None:
        """The Key URI Format forbids a colon in the account; nothing is stored."""
        with pytest.raises(ValueError, match="colon"):
            world.service.begin_enrollment("alice", account="a:b")
        assert world.service.status("alice") is Status.NONE


class TestLogin:
    """verify() outcomes other than the scenario's."""

    def test_unknown_user(self, world: World) -> None:
        """No record: NOT_ENROLLED."""
        assert world.service.verify("nobody", "123456").outcome is Outcome.NOT_ENROLLED

    @pytest.mark.parametrize("text", ["12345", "１２３４５６", "", "not a code!", "1234-5678"])  # noqa: RUF001
    def test_malformed(self, world: World, text: str) -> None:
        """Neither an app code nor a recovery code."""
        world.enrol()
        assert world.service.verify("alice", text).outcome is Outcome.MALFORMED

    def test_every_attempt_emits_one_event_without_secrets(self, world: World) -> None:
        """One audit event per attempt; no code, recovery code, secret or URI in any of them."""
        enrollment = world.service.begin_enrollment("alice", account="alice@example.org")
        phone = Phone(enrollment.secret_base32, world.clock)
        codes = world.service.confirm_enrollment("alice", phone.code())
        world.next_step()
        before = len(world.events)
        attempts = [phone.code(), phone.code(), phone.wrong_code(), codes[2], "bad"]
        for attempt in attempts:
            world.service.verify("alice", attempt)
        assert len(world.events) - before == len(attempts)
        forbidden = [
            enrollment.secret_base32,
            enrollment.uri,
            *codes,
            *(c.replace("-", "") for c in codes),
            *attempts[:3],
        ]
        for event in world.events:
            text = repr(event)
            assert not [secret for secret in forbidden if secret in text]

    def test_drift_learning_is_bounded(self, world: World) -> None:
        """Ordinary logins never learn more than max_drift, however far the matched offset."""
        svc = world.service
        phone, _ = world.enrol()
        wide = MfaService(
            world.store,
            issuer="x",
            keyring=world.keyring,
            policy=dataclasses.replace(POLICY, window=Window(0, 5), max_drift=1),
            clock=world.clock,
            audit=world.events.append,
        )
        aligned(world)
        phone.skew = 4 * 30
        assert wide.verify("alice", phone.code()).ok
        record = world.store.load("alice")
        assert record is not None
        assert record.drift == 1
        assert svc.policy.max_drift == 2

    def test_store_failure_fails_closed(self, world: World, monkeypatch: pytest.MonkeyPatch) -> None:
        """A store that cannot claim the attempt makes verify raise, never accept."""
        phone, _ = world.enrol()

        def broken(*_: object, **__: object) -> None:
            raise StoreError("database unreachable")

        monkeypatch.setattr(world.store, "claim_attempt", broken)
        world.next_step()
        with pytest.raises(StoreError):
            world.service.verify("alice", phone.code())

    def test_audit_logger_by_default(self, any_store: Store, caplog: pytest.LogCaptureFixture) -> None:
        """Without an audit callable, events go to the totpcore.audit logger."""
        with caplog.at_level("INFO", logger="totpcore.audit"):
            svc = MfaService(any_store, issuer="x", keyring=KeyRing.generate(), policy=POLICY, clock=Clock())
            svc.verify("nobody", "123456")
        assert caplog.records[-1].name == "totpcore.audit"
        assert "outcome=not_enrolled" in caplog.records[-1].getMessage()


class TestRecoveryCodes:
    """Regeneration and single use."""

    def test_regenerate_needs_an_app_code(self, world: World) -> None:
        """A recovery code cannot mint new recovery codes; an app code can, once."""
        svc = world.service
        phone, codes = world.enrol()
        world.next_step()
        with pytest.raises(MalformedCode):
            svc.regenerate_recovery_codes("alice", codes[0])
        fresh = svc.regenerate_recovery_codes("alice", phone.code())
        assert len(fresh) == 5
        assert svc.verify("alice", codes[1]).outcome is Outcome.INVALID
        with pytest.raises(ReplayedCode):
            svc.regenerate_recovery_codes("alice", phone.code())
        assert svc.verify("alice", fresh[0]).recovery_codes_left == 4

    def test_regenerate_refusals(self, world: World) -> None:
        """Not enrolled -> EnrollmentError; locked -> PolicyError."""
        with pytest.raises(EnrollmentError):
            world.service.regenerate_recovery_codes("alice", "123456")
        phone, _ = world.enrol()
        for _ in range(20):
            world.clock.advance(3600)
            world.service.verify("alice", phone.wrong_code())
        with pytest.raises(PolicyError, match="locked"):
            world.service.regenerate_recovery_codes("alice", "123456")

    def test_all_codes_used(self, world: World) -> None:
        """After the fifth use, no code is left and every code is refused."""
        _, codes = world.enrol()
        lefts = [world.service.verify("alice", code).recovery_codes_left for code in codes]
        assert lefts == [4, 3, 2, 1, 0]
        assert world.service.verify("alice", codes[0]).outcome is Outcome.INVALID


class TestSupport:
    """reset, disable, key rotation."""

    def test_disable_is_refused(self, world: World) -> None:
        """MFA cannot be disabled; the attempt is audited."""
        world.enrol()
        with pytest.raises(PolicyError, match="cannot be disabled"):
            world.service.disable("alice")
        assert world.events[-1].type is EventType.DISABLE_REFUSED
        assert world.service.status("alice") is Status.ENABLED

    @pytest.mark.parametrize(("actor", "reason"), [("", "x"), ("bob", " "), (None, "x")])
    def test_reset_needs_actor_and_reason(self, world: World, actor: str, reason: str) -> None:
        """Support must say who and why."""
        with pytest.raises(ConfigurationError):
            world.service.reset("alice", actor=actor, reason=reason)

    def test_reset_is_audited(self, world: World) -> None:
        """The reset event names the actor and the reason."""
        world.enrol()
        world.service.reset("alice", actor="support:bob", reason="lost phone")
        event = world.events[-1]
        assert (event.type, event.actor, event.reason) == (EventType.RESET, "support:bob", "lost phone")

    def test_rotate_keys(self, world: World) -> None:
        """After rotation every secret is sealed under the new key and logins still work."""
        phone, _ = world.enrol()
        rotated = world.keyring.rotated("k2")
        svc = MfaService(
            world.store,
            issuer="x",
            keyring=rotated,
            policy=POLICY,
            clock=world.clock,
            audit=world.events.append,
        )
        assert svc.rotate_keys() == KeyRotation(1, ())
        assert svc.rotate_keys() == KeyRotation(0, ())
        record = world.store.load("alice")
        assert record is not None
        assert record.key_id == "k2"
        world.next_step()
        assert svc.verify("alice", phone.code()).ok


class TestConfiguration:
    """Policy and service arguments are validated at construction."""

    @pytest.mark.parametrize(
        "change",
        [
            {"max_drift": -1},
            {"max_drift": 11},
            {"resync_search": 0},
            {"digits": 9},
            {"period": 121},
            {"recovery_count": 0},
            {"recovery_count": 21},
            {"recovery_bits": 63},
            {"kdf_concurrency": 0},
            {"kdf_wait": 0},
            {"kdf_wait": 61},
        ],
    )
    def test_invalid_policy(self, change: dict[str, int]) -> None:
        """Out-of-range values are ConfigurationErrors."""
        with pytest.raises(ConfigurationError):
            Policy(**change)  # type: ignore[arg-type]

    @pytest.mark.parametrize(
        "change",
        [
            {"window": (1, 1)},
            {"algorithm": "SHA1"},
            {"recovery_kdf": {}},
            {"throttle": 10},
            {"accept_unsealed_recovery": 1},
        ],
    )
    def test_wrong_types(self, change: dict[str, object]) -> None:
        """Fields take their own types."""
        with pytest.raises(TypeError):
            Policy(**change)  # type: ignore[arg-type]

    def test_service_arguments(self, any_store: Store) -> None:
        """An issuer, a KeyRing and a Policy are required to be what they say."""
        ring = KeyRing.generate()
        with pytest.raises(ConfigurationError, match="issuer"):
            MfaService(any_store, issuer="", keyring=ring, audit=print)
        with pytest.raises(TypeError, match="KeyRing"):
            MfaService(any_store, issuer="x", keyring=b"k" * 32)  # type: ignore[arg-type]
        with pytest.raises(TypeError, match="Policy"):
            MfaService(any_store, issuer="x", keyring=ring, policy=Throttle())  # type: ignore[arg-type]
        with pytest.raises(ConfigurationError, match="user_id"):
            MfaService(any_store, issuer="x", keyring=ring, audit=print).status("")


def test_database_file_holds_no_secret(tmp_path: Path) -> None:
    """After enrolment the SQLite file holds no base32 secret, raw secret or recovery code."""
    store = SQLiteStore(str(tmp_path / "mfa.sqlite3"))
    store.create_schema()
    clock, ring = Clock(), KeyRing.generate()
    svc = MfaService(store, issuer="x", keyring=ring, policy=POLICY, clock=clock, audit=print)
    enrollment = svc.begin_enrollment("alice", account="alice")
    codes = svc.confirm_enrollment("alice", Phone(enrollment.secret_base32, clock).code())
    store.close()
    dump = b"".join(p.read_bytes() for p in tmp_path.iterdir())
    raw = bytes(Secret.from_base32(enrollment.secret_base32))
    assert raw not in dump
    for text in [enrollment.secret_base32, *codes, *(c.replace("-", "") for c in codes)]:
        assert text.encode() not in dump
        assert text.lower().encode() not in dump
    assert re.search(rb"alice", dump)  # the dump is real: the user id is there


class TestInterleavings:
    """Another request changes the state between the service's steps: it never succeeds wrongly."""

    def test_second_tab_begins_during_confirm(self, world: World, monkeypatch: pytest.MonkeyPatch) -> None:
        """A code verified for secret A cannot enable secret B issued meanwhile by another tab."""
        svc, store = world.service, world.store
        phone = Phone(svc.begin_enrollment("alice", account="alice").secret_base32, world.clock)
        activate = store.activate

        def other_tab_first(user_id: str, **kwargs: object) -> bool:
            svc.begin_enrollment("alice", account="alice")
            return activate(user_id, **kwargs)  # type: ignore[arg-type]

        monkeypatch.setattr(store, "activate", other_tab_first)
        with pytest.raises(EnrollmentError, match="changed meanwhile"):
            svc.confirm_enrollment("alice", phone.code())
        assert svc.status("alice") is Status.PENDING
        assert world.events[-1].type is EventType.ENROLLMENT_FAILED

    def test_reset_during_confirm(self, world: World, monkeypatch: pytest.MonkeyPatch) -> None:
        """Support resets just before the claim: the confirmation is refused."""
        svc, store = world.service, world.store
        phone = Phone(svc.begin_enrollment("alice", account="alice").secret_base32, world.clock)
        claim = store.claim_attempt

        def reset_first(user_id: str, **kwargs: object) -> object:
            store.reset(user_id)
            return claim(user_id, **kwargs)  # type: ignore[arg-type]

        monkeypatch.setattr(store, "claim_attempt", reset_first)
        with pytest.raises(EnrollmentError, match="no pending enrolment"):
            svc.confirm_enrollment("alice", phone.code())

    def test_concurrent_recovery_use(self, world: World, monkeypatch: pytest.MonkeyPatch) -> None:
        """The code matched, but another request consumed it first: REPLAYED, not ACCEPTED."""
        _, codes = world.enrol()
        consume = world.store.consume_recovery

        def other_request_first(user_id: str, **kwargs: object) -> int | None:
            consume(user_id, **kwargs)  # type: ignore[arg-type]
            return consume(user_id, **kwargs)  # type: ignore[arg-type]

        monkeypatch.setattr(world.store, "consume_recovery", other_request_first)
        assert world.service.verify("alice", codes[0]) == LoginResult(Outcome.REPLAYED, Method.RECOVERY)

    def test_concurrent_resync(self, world: World, monkeypatch: pytest.MonkeyPatch) -> None:
        """The run matched, but another request recorded a later step first: REPLAYED."""
        phone, _ = world.enrol()
        aligned(world)
        phone.skew = 3600
        accept = world.store.accept_step

        def other_request_first(user_id: str, *, enrollment_id: str, step: int, **rest: float) -> bool:
            accept(
                user_id, enrollment_id=enrollment_id, step=step + 1, drift=int(rest["drift"]), now=rest["now"]
            )
            return accept(
                user_id, enrollment_id=enrollment_id, step=step, drift=int(rest["drift"]), now=rest["now"]
            )

        monkeypatch.setattr(world.store, "accept_step", other_request_first)
        result = world.service.resync("alice", [phone.code(), phone.code(steps_later=1)])
        assert result == LoginResult(Outcome.REPLAYED, Method.TOTP)

    def test_reset_during_regenerate(self, world: World, monkeypatch: pytest.MonkeyPatch) -> None:
        """The app code was fine, but support reset the user before the new set was stored."""
        phone, _ = world.enrol()
        world.next_step()
        replace = world.store.replace_recovery

        def reset_first(user_id: str, **kwargs: object) -> bool:
            world.store.reset(user_id)
            return replace(user_id, **kwargs)  # type: ignore[arg-type]

        monkeypatch.setattr(world.store, "replace_recovery", reset_first)
        with pytest.raises(EnrollmentError, match="not enabled"):
            world.service.regenerate_recovery_codes("alice", phone.code())

    def test_rotation_skips_users_that_moved_on(self, world: World, monkeypatch: pytest.MonkeyPatch) -> None:
        """A user reset, or re-sealed by another rotation, meanwhile is not counted."""
        world.enrol("alice")
        world.enrol("bob")
        rotated = world.keyring.rotated("k2")
        svc = MfaService(
            world.store,
            issuer="x",
            keyring=rotated,
            policy=POLICY,
            clock=world.clock,
            audit=world.events.append,
        )
        load, reseal, reseal_recovery = world.store.load, world.store.reseal, world.store.reseal_recovery

        def reset_alice_first(user_id: str) -> object:
            if user_id == "alice":
                world.store.reset("alice")
            return load(user_id)

        def someone_else_first(user_id: str, **kwargs: object) -> bool:
            reseal(user_id, **kwargs)  # type: ignore[arg-type]
            return reseal(user_id, **kwargs)  # type: ignore[arg-type]

        def someone_else_resealed_the_codes(user_id: str, **kwargs: object) -> bool:
            reseal_recovery(user_id, **kwargs)  # type: ignore[arg-type]
            return reseal_recovery(user_id, **kwargs)  # type: ignore[arg-type]

        monkeypatch.setattr(world.store, "load", reset_alice_first)
        monkeypatch.setattr(world.store, "reseal", someone_else_first)
        monkeypatch.setattr(world.store, "reseal_recovery", someone_else_resealed_the_codes)
        assert svc.rotate_keys() == KeyRotation(0, ())


class TestResyncOutcomes:
    """resync() refusals are results, like verify()'s."""

    def test_not_enrolled(self, world: World) -> None:
        """No record: NOT_ENROLLED."""
        assert world.service.resync("nobody", ["123456", "654321"]).outcome is Outcome.NOT_ENROLLED

    def test_wrong_and_malformed(self, world: World) -> None:
        """Codes that are not a consecutive run: INVALID; bad input: MALFORMED."""
        phone, _ = world.enrol()
        assert (
            world.service.resync("alice", [phone.wrong_code(), phone.wrong_code()]).outcome is Outcome.INVALID
        )
        assert world.service.resync("alice", [phone.code(), "12x456"]).outcome is Outcome.MALFORMED

    @pytest.mark.parametrize(
        "codes",
        [
            ["000000"] * 20_000,
            ["000000"] * 11,
            "123456654321",
            None,
            (code for code in ("123456", "654321")),
            {"123456", "654321"},
            [123456, 654321],
            b"123456654321",
        ],
        ids=["20000", "11", "str", "None", "generator", "set", "ints", "bytes"],
    )
    def test_unbounded_codes_are_malformed(
        self, world: World, codes: object, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """Anything but a list or tuple of 2 to 10 str: one counted MALFORMED attempt, not a single HMAC."""
        world.enrol()
        hmacs = record_calls(monkeypatch, _KeyedOtp, "_code")
        result = world.service.resync("alice", codes)  # type: ignore[arg-type]
        assert result == LoginResult(Outcome.MALFORMED, Method.TOTP)
        assert hmacs == []
        record = world.store.load("alice")
        assert record is not None
        assert record.failures == 1
        assert (world.events[-1].type, world.events[-1].outcome) == (EventType.RESYNC, Outcome.MALFORMED)

    def test_non_text_code_is_malformed(self, world: World) -> None:
        """An int is not a code (its leading zeros are gone): MALFORMED, counted."""
        world.enrol()
        assert world.service.verify("alice", 123456).outcome is Outcome.MALFORMED  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("algorithm", "size"), [(Algorithm.SHA1, 20), (Algorithm.SHA256, 32), (Algorithm.SHA512, 64)]
)
def test_secret_length_follows_the_algorithm(algorithm: Algorithm, size: int) -> None:
    """RFC 6238 §5.1: keys SHOULD be the length of the HMAC output."""
    svc = MfaService(
        MemoryStore(), issuer="x", keyring=KeyRing.generate(), policy=Policy(algorithm=algorithm), audit=print
    )
    enrollment = svc.begin_enrollment("alice", account="alice")
    assert len(Secret.from_base32(enrollment.secret_base32)) == size
    assert algorithm.digest_size == size
