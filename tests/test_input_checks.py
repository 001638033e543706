"""User ids, actors and reasons are checked at the door, before the store is touched (issue 14 part 2)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any, cast

import pytest

from service_support import CHEAP_KDF, RING, START, Spy
from store_support import Backend
from totpcore import TOTP, ConfigurationError, Secret
from totpcore.service import AsyncMfaService, AuditEvent, EventType, KeyRotation, MfaService, Policy
from totpcore.store import AsyncStoreAdapter, MemoryStore, Status, Store

POLICY = Policy(recovery_kdf=CHEAP_KDF)

BAD_USER_IDS = [
    pytest.param("\ud800", id="lone-surrogate"),
    pytest.param("alice\udcff", id="surrogate-escaped-byte"),
    pytest.param("", id="empty"),
    pytest.param("a" * 256, id="256-chars"),
    pytest.param("😀" * 256, id="256-astral-chars"),
    pytest.param("alice\x00", id="nul"),
    pytest.param("alice\nlogin user=bob", id="newline"),
    pytest.param("\x1b[31malice", id="escape"),
    pytest.param("alice\x7f", id="delete"),
    pytest.param("alice\x85", id="next-line"),
    pytest.param("alice\u2028", id="line-separator"),
    pytest.param("alice\u2029", id="paragraph-separator"),
    pytest.param(None, id="none"),
    pytest.param(42, id="int"),
    pytest.param(b"alice", id="bytes"),
    pytest.param(["alice"], id="list"),
]
GOOD_USER_IDS = [
    pytest.param("a" * 255, id="255-ascii"),
    pytest.param("é" * 255, id="255-two-byte"),
    pytest.param("😀" * 255, id="255-four-byte"),
    pytest.param("Zoë Ωmega 日本 \u202eevil", id="mixed-with-bidi-override"),
]
#: Every service method that takes a user id, called with the id under test.
METHODS: dict[str, Callable[[Any, object], object]] = {
    "status": lambda svc, user: svc.status(user),
    "requirement": lambda svc, user: svc.requirement(user),
    "state": lambda svc, user: svc.state(user),
    "begin_enrollment": lambda svc, user: svc.begin_enrollment(user, account="alice"),
    "confirm_enrollment": lambda svc, user: svc.confirm_enrollment(user, "123456"),
    "verify": lambda svc, user: svc.verify(user, "123456"),
    "verify-recovery": lambda svc, user: svc.verify(user, "ABCD-EFGH-JKMN-PQRS"),
    "resync": lambda svc, user: svc.resync(user, ["123456", "234567"]),
    "regenerate_recovery_codes": lambda svc, user: svc.regenerate_recovery_codes(user, "123456"),
    "reset": lambda svc, user: svc.reset(user, actor="support:zoe", reason="ticket 42"),
    "disable": lambda svc, user: svc.disable(user),
}


def sync_call(spy: Spy, events: list[AuditEvent], action: Callable[[Any], object]) -> None:
    """Run *action* on an MfaService over *spy*."""
    action(MfaService(cast("Store", spy), issuer="EMR", keyring=RING, policy=POLICY, audit=events.append))


def async_call(spy: Spy, events: list[AuditEvent], action: Callable[[Any], object]) -> None:
    """Run *action* on an AsyncMfaService over *spy* (in an AsyncStoreAdapter)."""

    async def run() -> None:
        service = AsyncMfaService(
            AsyncStoreAdapter(cast("Store", spy)),
            issuer="EMR",
            keyring=RING,
            policy=POLICY,
            audit=events.append,
        )
        await cast("Any", action(service))

    asyncio.run(run())


class TestUserIds:
    """A user id is a non-empty str of at most 255 characters without control characters or surrogates."""

    @pytest.mark.parametrize("face", [sync_call, async_call], ids=["sync", "async"])
    @pytest.mark.parametrize("method", METHODS)
    @pytest.mark.parametrize("user_id", BAD_USER_IDS)
    def test_refused_before_the_store(self, face: Callable[..., None], method: str, user_id: object) -> None:
        """Every method raises ConfigurationError with no store call and no audit event."""
        spy, events = Spy(MemoryStore()), list[AuditEvent]()
        with pytest.raises(ConfigurationError, match="user_id") as raised:
            face(spy, events, lambda svc: METHODS[method](svc, user_id))
        assert (spy.calls, events) == ([], [])
        if isinstance(user_id, str) and user_id:
            assert user_id not in str(raised.value)  # the message names the position, not the id

    @pytest.mark.parametrize("backend", ["sqlite", "postgres"], indirect=True)
    @pytest.mark.parametrize("user_id", GOOD_USER_IDS)
    def test_long_and_non_ascii_ids_end_to_end(self, backend: Backend, user_id: str) -> None:
        """Enrol, log in with both factors, rotate keys and reset: the id comes back exactly."""
        store = backend.open()
        clock = [START]
        service = MfaService(
            store, issuer="EMR", keyring=RING, policy=POLICY, clock=lambda: clock[0], audit=print
        )
        phone = TOTP(Secret.from_base32(service.begin_enrollment(user_id, account="x").secret_base32))
        codes = service.confirm_enrollment(user_id, phone.at(START))
        record = store.load(user_id)
        assert record is not None
        assert record.user_id == user_id
        clock[0] += 30
        assert service.verify(user_id, phone.at(clock[0])).ok
        assert service.verify(user_id, codes[0]).recovery_codes_left == 4
        rotated = MfaService(
            store, issuer="EMR", keyring=RING.rotated("k2"), clock=lambda: clock[0], audit=print
        )
        assert rotated.rotate_keys() == KeyRotation(1, ())
        clock[0] += 30
        assert rotated.verify(user_id, phone.at(clock[0])).ok
        assert rotated.verify(user_id, codes[1]).ok
        rotated.reset(user_id, actor="support:zoe", reason="test")
        assert rotated.status(user_id) is Status.NONE
        store.close()


class TestActorAndReason:
    """A reset names who does it and why, each with a visible character."""

    @pytest.mark.parametrize(
        "actor",
        ["", " ", "\t\n", "\x00", "\u200b", "support\nzoe", "support:\x1b[0m", "a" * 256, "\ud800", None, 7],
    )
    def test_bad_actor(self, actor: object) -> None:
        """Blank, invisible, control characters, too long or not text: ConfigurationError, nothing touched."""
        spy, events = Spy(MemoryStore()), list[AuditEvent]()
        with pytest.raises(ConfigurationError, match="actor"):
            sync_call(spy, events, lambda svc: svc.reset("alice", actor=actor, reason="ticket 42"))
        assert (spy.calls, events) == ([], [])

    @pytest.mark.parametrize(
        "reason",
        ["", "   ", "\n\t\r\n", "\x00\x01\x1b", "\u2028\u200b", "x" * 1001, "lost\ud800", None, b"x"],
    )
    def test_bad_reason(self, reason: object) -> None:
        """Blank, only invisible characters, over 1000 characters, a surrogate or not text: refused."""
        spy, events = Spy(MemoryStore()), list[AuditEvent]()
        with pytest.raises(ConfigurationError, match="reason"):
            sync_call(spy, events, lambda svc: svc.reset("alice", actor="support:zoe", reason=reason))
        assert (spy.calls, events) == ([], [])

    @pytest.mark.parametrize(
        ("actor", "reason"),
        [
            ("s" * 255, "r" * 1000),
            ("support:zoë", "Ticket 42:\nphone lost\non the train.\n"),
            ("z", "\n\n.\n"),
        ],
    )
    def test_good_actor_and_reason(self, actor: str, reason: str) -> None:
        """255-character actors and 1000-character reasons with newlines reset, audited verbatim."""
        spy, events = Spy(MemoryStore()), list[AuditEvent]()
        sync_call(spy, events, lambda svc: svc.reset("alice", actor=actor, reason=reason))
        assert spy.calls == ["load", "reset"]
        assert [(e.type, e.actor, e.reason) for e in events] == [(EventType.RESET, actor, reason)]
