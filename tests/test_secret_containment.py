"""Secrets stay where they belong: no copy of an Enrollment; recovery digests need the key (issue 14.4)."""

from __future__ import annotations

import copy
import dataclasses
import json
import pickle
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from qr_support import decode, read_png, read_svg, read_terminal, upscale
from service_support import CHEAP_KDF, RING, START
from store_support import Backend, RawDb
from totpcore import TOTP, Secret, StoreError, recovery
from totpcore.errors import RecordError
from totpcore.recovery import CodeSetParams
from totpcore.sealing import KeyRing
from totpcore.service import Enrollment, KeyRotation, MfaService, Outcome, Policy
from totpcore.store import MemoryStore, Store

POLICY = Policy(recovery_kdf=CHEAP_KDF)
SEALED = f"${recovery.SEALED_SCHEME}$"
UNSEALED = recovery.UNSEALED_PREFIX


@pytest.fixture
def enrollment() -> Enrollment:
    """A fresh enrolment of alice."""
    service = MfaService(MemoryStore(), issuer="EMR", keyring=RING, policy=POLICY, audit=lambda _: None)
    return service.begin_enrollment("alice", account="alice@example.org")


class TestEnrollment:
    """An Enrollment holds the secret until the user has scanned it, and goes nowhere else."""

    @pytest.mark.parametrize("protocol", range(pickle.HIGHEST_PROTOCOL + 1))
    def test_refuses_pickle(self, enrollment: Enrollment, protocol: int) -> None:
        """Every pickle protocol refuses it, alone or inside a session dict."""
        with pytest.raises(TypeError, match="refuses to be pickled"):
            pickle.dumps(enrollment, protocol=protocol)
        with pytest.raises(TypeError, match="refuses to be pickled"):
            pickle.dumps({"user": "alice", "mfa": enrollment}, protocol=protocol)

    @pytest.mark.parametrize(
        "export",
        [
            copy.copy,
            copy.deepcopy,
            dataclasses.asdict,
            vars,
            json.dumps,
            lambda enrollment: enrollment.__reduce__(),
            lambda enrollment: enrollment.__getstate__(),
        ],
        ids=["copy", "deepcopy", "asdict", "vars", "json", "reduce", "getstate"],
    )
    def test_refuses_copies(self, enrollment: Enrollment, export: Callable[[Any], object]) -> None:
        """copy, deepcopy, asdict, vars(), json and the hooks serialisers call directly: TypeError."""
        with pytest.raises(TypeError):
            export(enrollment)

    def test_repr_and_str_are_redacted(self, enrollment: Enrollment) -> None:
        """Neither the URI nor any part of the secret shows in repr, str or an f-string."""
        for text in (repr(enrollment), str(enrollment), f"{enrollment}", f"{[enrollment]}"):
            assert text in {
                "Enrollment(<uri and secret redacted>)",
                "[Enrollment(<uri and secret redacted>)]",
            }
            assert enrollment.secret_base32[:8] not in text

    @pytest.mark.parametrize("name", ["uri", "secret_base32", "_uri", "_secret_base32", "extra"])
    def test_immutable(self, enrollment: Enrollment, name: str) -> None:
        """No attribute can be set or deleted."""
        before = (enrollment.uri, enrollment.secret_base32)
        with pytest.raises(AttributeError):
            setattr(enrollment, name, "otpauth://totp/evil?secret=AAAA")
        with pytest.raises(AttributeError):
            delattr(enrollment, name)
        assert (enrollment.uri, enrollment.secret_base32) == before

    def test_qr_codes_decode_to_the_uri(self, enrollment: Enrollment) -> None:
        """The SVG, PNG and terminal QR codes scan to exactly the URI, which carries the secret."""
        assert f"secret={enrollment.secret_base32}" in enrollment.uri
        assert decode(*upscale(read_svg(enrollment.qr_svg())[1])) == [enrollment.uri]
        assert decode(*read_png(enrollment.qr_png())) == [enrollment.uri]
        assert decode(*upscale(read_terminal(enrollment.qr_terminal()))) == [enrollment.uri]


@dataclass
class User:
    """Alice, enrolled on a store: her phone, her recovery codes and a settable clock."""

    store: Store
    service: MfaService
    phone: TOTP
    codes: list[str]
    clock: list[float]

    def app_code(self) -> str:
        """A fresh app code: one step later than any before."""
        self.clock[0] += 30
        return self.phone.at(self.clock[0])

    def stored_set(self) -> tuple[str, dict[int, bytes]]:
        """The stored parameter string and digests."""
        record = self.store.load("alice")
        assert record is not None
        assert record.recovery_params is not None
        return record.recovery_params, dict(record.recovery)


@pytest.fixture
def alice(backend: Backend) -> Iterator[User]:
    """Alice, enrolled on the test's backend."""
    store = backend.open()
    clock = [START]
    service = MfaService(
        store, issuer="EMR", keyring=RING, policy=POLICY, clock=lambda: clock[0], audit=print
    )
    phone = TOTP(Secret.from_base32(service.begin_enrollment("alice", account="alice").secret_base32))
    codes = service.confirm_enrollment("alice", phone.at(START))
    yield User(store, service, phone, codes, clock)
    store.close()


def planted_digest(params: str, code: str) -> bytes:
    """What an attacker computes: the Argon2id digest of *code* for alice with the set's salt and costs."""
    return recovery._derive(
        recovery.normalize(code), CodeSetParams.parse(params), recovery._associated_data(b"alice")
    )


@pytest.mark.parametrize("backend", ["sqlite", "postgres"], indirect=True)
class TestPlantedRecoveryCodes:
    """Writing the tables without the key ring cannot make a recovery code work."""

    @pytest.mark.parametrize(
        "plant",
        [
            "UPDATE totpcore_recovery SET digest = ? WHERE user_id = 'alice' AND idx = 0",
            "INSERT INTO totpcore_recovery (user_id, idx, digest) VALUES ('alice', 5, ?)",
        ],
        ids=["replacing-a-code", "adding-a-code"],
    )
    def test_plain_digest_with_the_sets_salt(self, alice: User, backend: Backend, plant: str) -> None:
        """RecordError, not INVALID, for the chosen code and a genuine one alike; nothing written.

        The set is sealed (rc2): every stored digest must unseal under the key ring with
        alice's id and its index, and a plain 32-byte digest is not a sealed value. The
        whole set is refused inside the claim (fail closed); app codes keep working.
        """
        params, _ = alice.stored_set()
        assert params.startswith(SEALED)
        chosen = recovery.generate_codes(1)[0]
        raw = RawDb(backend)
        raw.execute(plant, planted_digest(params, chosen))
        before = raw.fingerprint()
        for code in (chosen, alice.codes[1]):
            with pytest.raises(RecordError):
                alice.service.verify("alice", code)
        assert raw.fingerprint() == before
        assert alice.service.verify("alice", alice.app_code()).ok
        raw.close()

    def test_digest_sealed_under_another_key_of_the_same_name(self, alice: User, backend: Backend) -> None:
        """RecordError: a digest sealed with the attacker's own key called k1 fails authentication."""
        params, _ = alice.stored_set()
        chosen = recovery.generate_codes(1)[0]
        forged = KeyRing({"k1": bytes(32)}, "k1").seal(
            planted_digest(params, chosen), user_id="alice", context=b"recovery-digest:0"
        )
        raw = RawDb(backend)
        raw.execute("UPDATE totpcore_recovery SET digest = ? WHERE user_id = 'alice' AND idx = 0", forged)
        with pytest.raises(RecordError):
            alice.service.verify("alice", chosen)
        raw.close()

    def test_downgrade_to_the_unsealed_scheme(self, alice: User, backend: Backend) -> None:
        """A whole unsealed (rc1) set written in place of the sealed one is refused: RecordError.

        Only a deployment that switched Policy.accept_unsealed_recovery on (a transition
        from a release that stored digests unsealed) accepts such sets, and with them this
        planting: docs/security.md says so.
        """
        chosen = recovery.generate_codes(1)[0]
        planted = recovery.hash_codes([chosen], params=CHEAP_KDF, context=b"alice", sealed=False)
        raw = RawDb(backend)
        raw.execute("UPDATE totpcore_users SET recovery_params = ? WHERE user_id = 'alice'", planted.params)
        raw.execute("DELETE FROM totpcore_recovery WHERE user_id = 'alice'")
        raw.execute("INSERT INTO totpcore_recovery VALUES ('alice', 0, ?)", planted.digests[0])
        before = raw.snapshot()
        with pytest.raises(RecordError, match="stored unsealed"):
            alice.service.verify("alice", chosen)
        assert raw.snapshot() == before
        assert alice.service.verify("alice", alice.app_code()).ok
        # An app login does not seal (and so bless) the planted set.
        assert raw.snapshot()["totpcore_recovery"] == before["totpcore_recovery"]
        raw.close()
        assert transitional(alice).verify("alice", chosen).ok


def transitional(alice: User) -> MfaService:
    """A service on alice's store that still accepts unsealed sets (Policy.accept_unsealed_recovery)."""
    return MfaService(
        alice.store,
        issuer="EMR",
        keyring=RING,
        policy=Policy(recovery_kdf=CHEAP_KDF, accept_unsealed_recovery=True),
        clock=lambda: alice.clock[0],
        audit=print,
    )


@pytest.mark.parametrize("backend", ["memory", "sqlite", "postgres"], indirect=True)
class TestLegacyRecoverySets:
    """A set stored unsealed by the previous release: sealed by rotate_keys(), or used during a transition."""

    @pytest.fixture
    def legacy(self, alice: User) -> tuple[list[str], str, dict[int, bytes]]:
        """Replace alice's set by an rc1 set, as the previous release wrote it: its codes, params, digests."""
        codes = recovery.generate_codes()
        hashed = recovery.hash_codes(codes, params=CHEAP_KDF, context=b"alice", sealed=False)
        record = alice.store.load("alice")
        assert record is not None
        assert alice.store.replace_recovery(
            "alice",
            enrollment_id=record.enrollment_id,
            recovery_params=hashed.params,
            digests=hashed.digests,
            now=START,
        )
        assert hashed.params.startswith(UNSEALED)
        return codes, hashed.params, dict(enumerate(hashed.digests))

    def check_sealed(self, alice: User, legacy: tuple[list[str], str, dict[int, bytes]], left: int) -> None:
        """Same salt and costs under the rc2 scheme; every digest changed, unseals to the plain one."""
        _, params, plain = legacy
        sealed_params, digests = alice.stored_set()
        assert sealed_params == params.replace(UNSEALED, SEALED, 1)
        assert len(digests) == left
        for index, digest in digests.items():
            assert digest != plain[index]
            assert (
                RING.unseal(digest, user_id="alice", context=f"recovery-digest:{index}".encode())
                == plain[index]
            )

    def test_sealed_after_a_recovery_login(
        self, alice: User, legacy: tuple[list[str], str, dict[int, bytes]]
    ) -> None:
        """In a transition, a legacy code logs in; the rest of the set is then sealed, and still works."""
        codes, service = legacy[0], transitional(alice)
        assert service.verify("alice", codes[0]).recovery_codes_left == 4
        self.check_sealed(alice, legacy, 4)
        assert alice.service.verify("alice", codes[1]).recovery_codes_left == 3
        assert alice.service.verify("alice", codes[0]).outcome is Outcome.INVALID

    def test_sealed_after_an_app_login(
        self, alice: User, legacy: tuple[list[str], str, dict[int, bytes]]
    ) -> None:
        """In a transition, an app-code login seals the set; every legacy code then works everywhere."""
        assert transitional(alice).verify("alice", alice.app_code()).ok
        self.check_sealed(alice, legacy, 5)
        assert alice.service.verify("alice", legacy[0][4]).recovery_codes_left == 4

    def test_interrupted_rotation_finishes_next_time(
        self, alice: User, legacy: tuple[list[str], str, dict[int, bytes]], monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """A rotation that fails after sealing the digests, before the secret, is finished by the next run."""
        rotated = MfaService(
            alice.store,
            issuer="EMR",
            keyring=RING.rotated("k2"),
            policy=POLICY,
            clock=lambda: alice.clock[0],
            audit=print,
        )

        def fail(*_: object, **__: object) -> bool:
            raise StoreError("connection lost")

        with monkeypatch.context() as patch:
            patch.setattr(alice.store, "reseal", fail)
            with pytest.raises(StoreError, match="connection lost"):
                rotated.rotate_keys()
        params, _ = alice.stored_set()
        record = alice.store.load("alice")
        assert record is not None
        assert (record.key_id, params.startswith(SEALED)) == ("k1", True)
        assert rotated.rotate_keys() == KeyRotation(1, ())
        record = alice.store.load("alice")
        assert record is not None
        assert record.key_id == "k2"
        assert rotated.verify("alice", legacy[0][3]).ok
        assert rotated.verify("alice", alice.app_code()).ok

    def test_refused_by_default(self, alice: User, legacy: tuple[list[str], str, dict[int, bytes]]) -> None:
        """Without the transition switch an unsealed set is refused, and an app login leaves it unsealed."""
        with pytest.raises(RecordError, match="rotate-keys"):
            alice.service.verify("alice", legacy[0][0])
        assert alice.service.verify("alice", alice.app_code()).ok
        assert alice.stored_set()[0] == legacy[1]
        assert alice.service.state("alice").recovery_codes_left == 0

    def test_sealed_by_rotate_keys(
        self, alice: User, legacy: tuple[list[str], str, dict[int, bytes]]
    ) -> None:
        """rotate_keys() under the same key seals the set (and only it); the codes still work."""
        assert alice.service.rotate_keys() == KeyRotation(1, ())
        self.check_sealed(alice, legacy, 5)
        assert alice.service.rotate_keys() == KeyRotation(0, ())
        assert alice.service.verify("alice", legacy[0][2]).ok
