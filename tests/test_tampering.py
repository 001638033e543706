"""Rows altered behind the service's back: each method fails closed (RecordError) or works (issue 14 part 1).

Each case writes one bad value into one column, with a connection of our own (SQLite:
also values of the wrong storage class, CHECK constraints ignored; PostgreSQL: values
the column type allows, CHECK constraints dropped). Then every MfaService method that
reads the row runs against a freshly tampered copy. A method either does its normal
job, because the damage is in a column it does not need (app codes do not need the
recovery set and recovery codes do not need the app secret), or raises RecordError,
a StoreError, with every row exactly as it was. Never another exception.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Literal

import pytest

from service_support import CHEAP_KDF, RING, START
from store_support import Backend, RawDb
from totpcore import TOTP, EnrollmentError, Secret
from totpcore.errors import RecordError
from totpcore.sealing import KeyRing
from totpcore.service import KeyRotation, MfaService, Outcome, Policy, Requirement
from totpcore.store import Status, Store

NOW = START + 300.0  # ten steps after enrolment: every code below is fresh
POLICY = Policy(recovery_kdf=CHEAP_KDF)
#: The damage a case does: to a column every operation needs, to one factor, or to nothing the service trusts.
Breaks = Literal["core", "app", "recovery", "none"]


@dataclass
class Site:
    """Three users on one database: alice (the victim) and bob enabled, pat pending."""

    raw: RawDb
    store: Store
    service: MfaService
    secrets: dict[str, str]
    codes: list[str]
    clock: list[float]

    def code(self, user: str, steps_later: int = 0) -> str:
        """The app code of *user*'s phone now (or some steps later)."""
        return TOTP(Secret.from_base32(self.secrets[user])).at(self.clock[0] + 30 * steps_later)

    def value(self, table: str, column: str, user: str) -> object:
        """One stored value (of the recovery code with index 0, in the recovery table)."""
        extra = " AND idx = 0" if table == "totpcore_recovery" else ""
        return self.raw.query(f"SELECT {column} FROM {table} WHERE user_id = ?{extra}", user)[0][0]  # noqa: S608

    def rows_of(self, user: str) -> str:
        """The rows of one user in both tables, as text (see RawDb.fingerprint)."""
        return repr(
            {table: [row for row in rows if row[0] == user] for table, rows in self.raw.snapshot().items()}
        )


@dataclass(frozen=True)
class Case:
    """One column of one table, one bad value, and what it breaks."""

    table: str
    column: str
    label: str
    value: Callable[[Site], object]
    breaks: Breaks

    def apply(self, site: Site, user: str) -> None:
        """Write the bad value into *user*'s row (the recovery code with index 0, in the recovery table)."""
        extra = " AND idx = 0" if self.table == "totpcore_recovery" else ""
        site.raw.execute(
            f"UPDATE {self.table} SET {self.column} = ? WHERE user_id = ?{extra}",  # noqa: S608
            self.value(site),
            user,
        )


def fixed(value: object) -> Callable[[Site], object]:
    """A bad value that does not depend on the database."""
    return lambda _: value


def users(column: str, label: str, value: Callable[[Site], object], breaks: Breaks) -> Case:
    """A case in totpcore_users."""
    return Case("totpcore_users", column, label, value, breaks)


def recovery(column: str, label: str, value: Callable[[Site], object]) -> Case:
    """A case in totpcore_recovery: it always breaks the recovery set only."""
    return Case("totpcore_recovery", column, label, value, "recovery")


def other_users(table: str, column: str) -> Callable[[Site], object]:
    """Bob's value of the same column: well formed, but sealed for someone else."""
    return lambda site: site.value(table, column, "bob")


def truncated(table: str, column: str) -> Callable[[Site], object]:
    """Alice's own sealed value, one byte short."""
    return lambda site: bytes(site.value(table, column, "alice"))[:-1]  # type: ignore[call-overload]


def foreign_key(site: Site) -> bytes:
    """Alice's secret sealed under a key id the ring does not hold."""
    raw = bytes(Secret.from_base32(site.secrets["alice"]))
    return KeyRing({"k9": bytes(32)}, "k9").seal(raw, user_id="alice")


def unsealed_scheme(site: Site) -> str:
    """The set's parameter string with the unsealed (rc1) scheme: a downgrade of the sealed digests."""
    return str(site.value("totpcore_users", "recovery_params", "alice")).replace("-rc2-", "-rc1-")


INF = math.inf
#: Values both databases store in the column's own type.
BOTH = [
    users("status", "unknown", fixed("bogus"), "core"),
    users("enrollment_id", "empty", fixed(""), "core"),
    users("sealed_secret", "other-users", other_users("totpcore_users", "sealed_secret"), "app"),
    users("sealed_secret", "truncated", truncated("totpcore_users", "sealed_secret"), "app"),
    users("sealed_secret", "key-not-in-ring", foreign_key, "app"),
    users("key_id", "not-in-ring", fixed("k9"), "none"),  # an index for rotation; the blob names its key
    users("digits", "9", fixed(9), "app"),
    users("digits", "0", fixed(0), "app"),
    users("period", "0", fixed(0), "app"),
    users("period", "negative", fixed(-30), "app"),
    users("algorithm", "MD5", fixed("MD5"), "app"),
    users("algorithm", "lower-case", fixed("sha1"), "app"),
    users("drift", "beyond-any-resync", fixed(10**6), "app"),
    users("failures", "negative", fixed(-1), "core"),
    users("next_attempt_at", "infinite", fixed(INF), "core"),
    users("recovery_params", "garbage", fixed("$argon2id$v=19$garbage"), "recovery"),
    users("recovery_params", "null", fixed(None), "recovery"),
    users("recovery_params", "unsealed-scheme", unsealed_scheme, "recovery"),
    users("created_at", "infinite", fixed(-INF), "core"),
    users("updated_at", "infinite", fixed(INF), "core"),
    users("enabled_at", "infinite", fixed(INF), "core"),
    recovery("idx", "another-index", fixed(7)),
    recovery("idx", "negative", fixed(-1)),
    recovery("idx", "out-of-range", fixed(25)),
    recovery("digest", "other-users", other_users("totpcore_recovery", "digest")),
    recovery("digest", "truncated", truncated("totpcore_recovery", "digest")),
    recovery("digest", "wrong-length", fixed(b"\x00" * 31)),
]
#: SQLite only: wrong storage classes (a column's affinity keeps them as written) and text forms.
SQLITE_ONLY = [
    users("status", "blob", fixed(b"enabled"), "core"),
    users("enrollment_id", "blob", fixed(b"e" * 32), "core"),
    users("sealed_secret", "text", fixed("sealed"), "app"),
    users("sealed_secret", "integer", fixed(7), "app"),
    users("key_id", "blob", fixed(b"k1"), "app"),
    users("digits", "text", fixed("six"), "app"),
    users("period", "real", fixed(30.5), "app"),
    users("algorithm", "blob", fixed(b"SHA1"), "app"),
    users("last_step", "not-digits", fixed("abcdefghijklmnopqrst"), "app"),
    users("last_step", "short", fixed("5"), "app"),
    users("last_step", "beyond-64-bits", fixed("99999999999999999999"), "app"),
    users("last_step", "blob", fixed(b"00000000000000000001"), "app"),
    users("drift", "text", fixed("x"), "app"),
    users("failures", "text", fixed("none"), "core"),
    users("failures", "real", fixed(1.5), "core"),
    users("next_attempt_at", "text", fixed("soon"), "core"),
    users("recovery_params", "blob", fixed(b"$totpcore-rc2-argon2id$"), "recovery"),
    users("created_at", "blob", fixed(b"\x00"), "core"),
    users("updated_at", "text", fixed("yesterday"), "core"),
    users("enabled_at", "text", fixed("today"), "core"),
    recovery("idx", "text", fixed("first")),
    recovery("digest", "text", fixed("digest")),
    recovery("digest", "integer", fixed(0)),
]
#: PostgreSQL only: what only its types can hold.
POSTGRES_ONLY = [
    users("last_step", "negative", fixed(-1), "app"),
    users("last_step", "beyond-64-bits", fixed(2**64), "app"),
    users("next_attempt_at", "nan", fixed(math.nan), "core"),
    users("enabled_at", "nan", fixed(math.nan), "core"),
]
CASES = [
    *(pytest.param("sqlite", case, id=f"sqlite-{case.column}-{case.label}") for case in BOTH + SQLITE_ONLY),
    *(
        pytest.param("postgres", case, id=f"postgres-{case.column}-{case.label}")
        for case in BOTH + POSTGRES_ONLY
    ),
]
USER_CASES = [param for param in CASES if param.values[1].table == "totpcore_users"]  # type: ignore[union-attr]


@pytest.fixture
def site(backend: Backend) -> Iterator[Site]:
    """Alice and bob enrolled, pat pending; the clock ten steps later; CHECKs out of the way."""
    store = backend.open()
    clock = [START]
    service = MfaService(
        store, issuer="EMR", keyring=RING, policy=POLICY, clock=lambda: clock[0], audit=lambda _: None
    )
    secrets: dict[str, str] = {}
    codes: list[str] = []
    for user in ("alice", "bob", "pat"):
        secrets[user] = service.begin_enrollment(user, account=user).secret_base32
        if user != "pat":
            confirmed = service.confirm_enrollment(user, TOTP(Secret.from_base32(secrets[user])).at(START))
            codes = codes or confirmed
    clock[0] = NOW
    raw = RawDb(backend)
    if backend.kind == "postgres":
        raw.drop_checks()
    yield Site(raw, store, service, secrets, codes, clock)
    raw.close()
    store.close()


def rotating(site: Site) -> MfaService:
    """A service whose ring has a new current key, k2 (k1 kept to open the old blobs)."""
    return MfaService(
        site.store,
        issuer="EMR",
        keyring=RING.rotated("k2"),
        policy=POLICY,
        clock=lambda: NOW,
        audit=lambda _: None,
    )


# ---------------------------------------------------------------- what each method must do


def check_state(site: Site, case: Case) -> None:
    """ENABLED, CODE; the recovery codes left are 0 when the set cannot be used."""
    state = site.service.state("alice")
    assert (state.status, state.requirement, state.enabled_at) == (Status.ENABLED, Requirement.CODE, START)
    assert state.recovery_codes_left == (0 if case.breaks == "recovery" else 5)


def check_refused(site: Site, action: Callable[[], object]) -> None:
    """The method refuses for the user's status (EnrollmentError) and writes nothing."""
    before = site.raw.fingerprint()
    with pytest.raises(EnrollmentError):
        action()
    assert site.raw.fingerprint() == before


def check_rotation(site: Site, case: Case) -> None:
    """Bob (and pat) are re-sealed under k2; alice too unless damaged, else skipped and untouched."""
    alice = site.rows_of("alice")
    rotation = rotating(site).rotate_keys()
    skipped = () if case.breaks == "none" else ("alice",)
    assert rotation == KeyRotation(3 - len(skipped), skipped)
    assert site.value("totpcore_users", "key_id", "bob") == "k2"
    if skipped:
        assert site.rows_of("alice") == alice


def check_reset(site: Site, user: str) -> None:
    """A reset removes the row, however damaged; the others stay."""
    site.service.reset(user, actor="support:zoe", reason="damaged row")
    assert site.rows_of(user) == repr({"totpcore_users": [], "totpcore_recovery": []})
    assert site.value("totpcore_users", "status", "bob") == "enabled"


def check_status(site: Site, _: Case) -> None:
    """ENABLED."""
    assert site.service.status("alice") is Status.ENABLED


def check_requirement(site: Site, _: Case) -> None:
    """CODE."""
    assert site.service.requirement("alice") is Requirement.CODE


def check_app_code(site: Site, _: Case) -> None:
    """An app code logs in."""
    assert site.service.verify("alice", site.code("alice")).ok


def check_recovery_code(site: Site, _: Case) -> None:
    """A recovery code logs in."""
    assert site.service.verify("alice", site.codes[1]).ok


def check_resync(site: Site, _: Case) -> None:
    """Two consecutive app codes resynchronise."""
    assert site.service.resync("alice", [site.code("alice"), site.code("alice", 1)]).ok


def check_regenerate(site: Site, _: Case) -> None:
    """An app code buys a new recovery set (which replaces a damaged one)."""
    codes = site.service.regenerate_recovery_codes("alice", site.code("alice"))
    assert site.service.verify("alice", codes[0]).ok


def check_begin(site: Site, _: Case) -> None:
    """MFA is enabled: no new enrolment."""
    check_refused(site, lambda: site.service.begin_enrollment("alice", account="alice"))


def check_confirm_enabled(site: Site, _: Case) -> None:
    """Nothing is pending: nothing to confirm."""
    check_refused(site, lambda: site.service.confirm_enrollment("alice", site.code("alice")))


#: Each method on the ENABLED user: the damage that makes it raise RecordError, and its normal job.
ENABLED: dict[str, tuple[set[Breaks], Callable[[Site, Case], None]]] = {
    "status": ({"core"}, check_status),
    "requirement": ({"core"}, check_requirement),
    "state": ({"core"}, check_state),
    "verify-app-code": ({"core", "app"}, check_app_code),
    "verify-recovery-code": ({"core", "recovery"}, check_recovery_code),
    "resync": ({"core", "app"}, check_resync),
    "regenerate": ({"core", "app"}, check_regenerate),
    "begin-enrollment": ({"core"}, check_begin),
    "confirm-enrollment": ({"core"}, check_confirm_enabled),
    "rotate-keys": (set(), check_rotation),
    "reset": (set(), lambda site, _: check_reset(site, "alice")),
}


def check_pending(site: Site) -> None:
    """PENDING."""
    assert site.service.state("pat").status is Status.PENDING


def check_confirm(site: Site) -> None:
    """The pending secret is confirmed: five recovery codes, ENABLED."""
    assert len(site.service.confirm_enrollment("pat", site.code("pat"))) == 5
    assert site.service.status("pat") is Status.ENABLED


def check_not_enrolled(site: Site) -> None:
    """A login for a pending user is NOT_ENROLLED and writes nothing."""
    before = site.raw.fingerprint()
    assert site.service.verify("pat", site.code("pat")).outcome is Outcome.NOT_ENROLLED
    assert site.raw.fingerprint() == before


def check_begin_again(site: Site) -> None:
    """A new enrolment replaces the pending row whole (repairing it)."""
    site.service.begin_enrollment("pat", account="pat")
    assert site.service.status("pat") is Status.PENDING


#: Each method on the PENDING user: whether the case makes it raise RecordError, and its normal job.
PENDING: dict[str, tuple[Callable[[Case], bool], Callable[[Site], None]]] = {
    "state": (lambda case: case.breaks == "core", check_pending),
    "confirm-enrollment": (lambda case: case.breaks in {"core", "app"}, check_confirm),
    "verify": (lambda case: case.breaks == "core", check_not_enrolled),
    # begin writes without reading; it can only not tell a damaged status from an enabled one.
    "begin-enrollment": (lambda case: case.column == "status", check_begin_again),
    "reset": (lambda _: False, lambda site: check_reset(site, "pat")),
}


def run_each(site: Site, case: Case, user: str, actions: dict[str, tuple[bool, Callable[[], None]]]) -> None:
    """Run each action on a freshly tampered copy: RecordError with nothing changed, or its normal job."""
    good = site.raw.snapshot()
    seen: dict[str, str] = {}
    for name, (_, action) in actions.items():
        site.raw.restore(good)
        case.apply(site, user)
        before = site.raw.fingerprint()
        try:
            action()
        except RecordError:
            seen[name] = "RecordError" if site.raw.fingerprint() == before else "RecordError after a change"
        except Exception as exc:  # noqa: BLE001 - reported below, with the name of the method
            seen[name] = f"{type(exc).__name__}: {exc}"
        else:
            seen[name] = "ok"
    assert seen == {name: "RecordError" if fails else "ok" for name, (fails, _) in actions.items()}


@pytest.mark.parametrize(("backend", "case"), CASES, indirect=["backend"])
def test_enabled_row(site: Site, case: Case) -> None:
    """Every method on a damaged ENABLED row: RecordError and no change, or its normal job."""
    run_each(
        site,
        case,
        "alice",
        {
            name: (case.breaks in fails_on, lambda check=check: check(site, case))  # type: ignore[misc]
            for name, (fails_on, check) in ENABLED.items()
        },
    )


@pytest.mark.parametrize(("backend", "case"), USER_CASES, indirect=["backend"])
def test_pending_row(site: Site, case: Case) -> None:
    """Every method on a damaged PENDING row: RecordError and no change, or its normal job."""
    run_each(
        site,
        case,
        "pat",
        {
            name: (fails(case), lambda check=check: check(site))  # type: ignore[misc]
            for name, (fails, check) in PENDING.items()
        },
    )
