"""The Store contract (store/base.py), run unchanged against every implementation."""

from __future__ import annotations

import pytest

from store_support import CONFIRM_STEP, DIGESTS, EID, SECRET, UNTHROTTLED, Backend, begin, claim, enroll
from totpcore import recovery
from totpcore.errors import ConfigurationError, RecordError, StoreError
from totpcore.store import ClaimResult, Status, Store, UserRecord
from totpcore.throttle import Throttle

pytestmark = pytest.mark.parametrize("backend", ["memory", "sqlite", "postgres", "pgbouncer"], indirect=True)

STEP_MAX = 2**64 - 1
#: Another enrolment's id: what a write meant for an earlier enrolment carries.
OTHER = "0" * 32


class TestSchema:
    """create_schema() can run any number of times."""

    def test_is_idempotent(self, store: Store) -> None:
        """A second call changes nothing and the store keeps working."""
        enroll(store)
        store.create_schema()
        record = store.load("alice")
        assert record is not None
        assert record.status is Status.ENABLED


class TestBegin:
    """Beginning an enrollment creates or replaces a PENDING record, never an ENABLED one."""

    def test_creates_a_pending_record(self, store: Store) -> None:
        """Every field is stored as given, counters zeroed."""
        assert store.load("alice") is None
        assert store.begin(
            "alice",
            enrollment_id=EID,
            sealed_secret=SECRET,
            key_id="k7",
            digits=8,
            period=60,
            algorithm="SHA512",
            now=1000.5,
        )
        record = store.load("alice")
        assert record is not None
        assert record.user_id == "alice"
        assert record.status is Status.PENDING
        assert record.sealed_secret == SECRET
        assert (record.key_id, record.digits, record.period, record.algorithm) == ("k7", 8, 60, "SHA512")
        assert (record.last_step, record.drift, record.failures) == (None, 0, 0)
        assert record.next_attempt_at == 0.0
        assert (record.recovery_params, record.recovery) == (None, ())
        assert (record.created_at, record.updated_at, record.enabled_at) == (1000.5, 1000.5, None)

    def test_replaces_a_pending_record(self, store: Store) -> None:
        """A second begin (another tab) issues a new secret and zeroes the counters."""
        assert begin(store, secret=b"first")
        claim(store, "alice", now=1001.0, throttle=UNTHROTTLED, status=Status.PENDING)
        assert begin(store, secret=b"second", now=1002.0, enrollment_id=OTHER)
        record = store.load("alice")
        assert record is not None
        assert (record.sealed_secret, record.enrollment_id) == (b"second", OTHER)
        assert record.failures == 0
        assert record.created_at == 1002.0

    def test_never_over_an_enabled_record(self, store: Store) -> None:
        """An ENABLED user keeps their secret: begin returns False and changes nothing."""
        enroll(store)
        before = store.load("alice")
        assert not begin(store, secret=b"attacker", now=5000.0)
        assert store.load("alice") == before

    def test_never_over_a_locked_record(self, store: Store) -> None:
        """A LOCKED user stays locked until a support reset."""
        enroll(store)
        lock(store)
        assert not begin(store, secret=b"attacker")
        record = store.load("alice")
        assert record is not None
        assert record.status is Status.LOCKED

    def test_users_are_independent(self, store: Store) -> None:
        """Records are per user."""
        enroll(store, "alice")
        assert begin(store, "bob")
        alice, bob = store.load("alice"), store.load("bob")
        assert alice is not None
        assert bob is not None
        assert (alice.status, bob.status) == (Status.ENABLED, Status.PENDING)


class TestActivate:
    """Activation moves PENDING to ENABLED only with the secret that was issued."""

    def test_enables_and_consumes_the_confirming_step(self, store: Store) -> None:
        """last_step is the confirming step; the recovery set is stored in order."""
        assert begin(store)
        assert store.activate(
            "alice",
            enrollment_id=EID,
            step=CONFIRM_STEP,
            recovery_params="$p$",
            digests=DIGESTS,
            now=1001.0,
        )
        record = store.load("alice")
        assert record is not None
        assert record.status is Status.ENABLED
        assert record.last_step == CONFIRM_STEP
        assert record.recovery_params == "$p$"
        assert record.recovery == tuple(enumerate(DIGESTS))
        assert (record.enabled_at, record.updated_at, record.created_at) == (1001.0, 1001.0, 1000.0)
        assert not store.accept_step("alice", enrollment_id=EID, step=CONFIRM_STEP, drift=0, now=1002.0)

    def test_zeroes_failures(self, store: Store) -> None:
        """Failed confirmation attempts do not follow the user into login."""
        assert begin(store)
        for t in range(3):
            claim(store, "alice", now=1001.0 + t, throttle=UNTHROTTLED, status=Status.PENDING)
        enroll_again = store.activate(
            "alice", enrollment_id=EID, step=1, recovery_params="p", digests=DIGESTS, now=1005.0
        )
        assert enroll_again
        record = store.load("alice")
        assert record is not None
        assert (record.failures, record.next_attempt_at, record.drift) == (0, 0.0, 0)

    def test_refuses_another_enrolment(self, store: Store) -> None:
        """A second tab began a new enrollment: confirming the first one fails."""
        assert begin(store, secret=b"first")
        assert begin(store, secret=b"second", enrollment_id=OTHER)
        assert not store.activate(
            "alice",
            enrollment_id=EID,
            step=1,
            recovery_params="p",
            digests=[],
            now=1.0,
        )
        record = store.load("alice")
        assert record is not None
        assert record.status is Status.PENDING

    def test_only_once(self, store: Store) -> None:
        """A second activation (a double submit) fails and changes nothing."""
        enroll(store)
        before = store.load("alice")
        assert not store.activate(
            "alice", enrollment_id=EID, step=CONFIRM_STEP + 5, recovery_params="p", digests=[b"x"], now=9.0
        )
        assert store.load("alice") == before

    def test_not_without_a_pending_record(self, store: Store) -> None:
        """No record, nothing to activate."""
        assert not store.activate(
            "ghost", enrollment_id=EID, step=1, recovery_params="p", digests=[], now=1.0
        )
        assert store.load("ghost") is None

    def test_empty_recovery_set(self, store: Store) -> None:
        """A policy without recovery codes stores none."""
        enroll(store, digests=[])
        record = store.load("alice")
        assert record is not None
        assert record.recovery == ()

    @pytest.mark.parametrize("step", [-1, 2**64])
    def test_step_out_of_range(self, store: Store, step: int) -> None:
        """Steps are RFC 4226 counters: 0 to 2**64 - 1."""
        assert begin(store)
        with pytest.raises(ConfigurationError):
            store.activate("alice", enrollment_id=EID, step=step, recovery_params="p", digests=[], now=1.0)


def lock(store: Store, user_id: str = "alice") -> None:
    """Fail until the default throttle's lockout, then lock."""
    throttle = Throttle(free_attempts=9, lockout=10)
    for t in range(10):
        assert claim(store, user_id, now=2000.0 + t, throttle=throttle).result is ClaimResult.CLAIMED
    assert store.lock_if_exhausted(user_id, enrollment_id=EID, throttle=throttle, now=2010.0)


class TestClaimAttempt:
    """Every attempt is counted before it is evaluated, or refused."""

    def test_not_enrolled(self, store: Store) -> None:
        """No record: NOT_ENROLLED, and nothing is created."""
        claimed = claim(store, "ghost", now=1.0, throttle=Throttle())
        assert claimed.result is ClaimResult.NOT_ENROLLED
        assert claimed.record is None
        assert store.load("ghost") is None

    def test_counts_before_evaluation(self, store: Store) -> None:
        """A claimed attempt is already a failure, with the throttle's next time."""
        enroll(store)
        throttle = Throttle(free_attempts=1, base_delay=2.0, growth=3.0)
        first = claim(store, "alice", now=2000.0, throttle=throttle)
        assert first.result is ClaimResult.CLAIMED
        assert first.record is not None
        assert (first.record.failures, first.record.next_attempt_at) == (1, 2000.0)
        second = claim(store, "alice", now=2000.0, throttle=throttle)
        assert second.record is not None
        assert (second.record.failures, second.record.next_attempt_at) == (2, 2002.0)
        assert second.record == store.load("alice")

    def test_throttled_until_the_next_allowed_time(self, store: Store) -> None:
        """Before next_attempt_at the attempt is refused, not counted, with retry_after."""
        enroll(store)
        throttle = Throttle(free_attempts=0, base_delay=30.0)
        assert claim(store, "alice", now=2000.0, throttle=throttle).result is ClaimResult.CLAIMED
        refused = claim(store, "alice", now=2010.0, throttle=throttle)
        assert refused.result is ClaimResult.THROTTLED
        assert refused.retry_after == pytest.approx(20.0)
        record = store.load("alice")
        assert record is not None
        assert record.failures == 1
        assert claim(store, "alice", now=2030.0, throttle=throttle).result is ClaimResult.CLAIMED

    def test_locked(self, store: Store) -> None:
        """A LOCKED user is refused without counting."""
        enroll(store)
        lock(store)
        claimed = claim(store, "alice", now=9999.0, throttle=Throttle())
        assert claimed.result is ClaimResult.LOCKED
        record = store.load("alice")
        assert record is not None
        assert record.failures == 10

    def test_pending_attempts_count_too(self, store: Store) -> None:
        """Confirmation guesses are throttled like login guesses."""
        assert begin(store)
        claimed = claim(store, "alice", now=1001.0, throttle=Throttle(), status=Status.PENDING)
        assert claimed.result is ClaimResult.CLAIMED
        assert claimed.record is not None
        assert claimed.record.status is Status.PENDING
        assert claimed.record.failures == 1

    def test_claimed_record_carries_the_recovery_set(self, store: Store) -> None:
        """The service can check a recovery code against the claimed record."""
        enroll(store)
        claimed = claim(store, "alice", now=2000.0, throttle=Throttle())
        assert claimed.record is not None
        assert claimed.record.recovery == tuple(enumerate(DIGESTS))
        assert claimed.record.recovery_params == "$test$"

    def test_status_must_match(self, store: Store) -> None:
        """A login claim on a PENDING user, or a confirmation claim on an ENABLED one, counts nothing."""
        enroll(store, "enabled")
        assert begin(store, "pending")
        assert claim(store, "enabled", now=2000.0, throttle=Throttle(), status=Status.PENDING).result is (
            ClaimResult.NOT_ENROLLED
        )
        assert claim(store, "pending", now=2000.0, throttle=Throttle()).result is ClaimResult.NOT_ENROLLED
        for user in ("enabled", "pending"):
            record = store.load(user)
            assert record is not None
            assert record.failures == 0

    def test_lockout_is_decided_in_the_claim(self, store: Store) -> None:
        """Once `lockout` attempts are claimed without a success, the next claim locks: none is evaluated."""
        enroll(store)
        throttle = Throttle(free_attempts=9, lockout=10, base_delay=0.001)
        results = [claim(store, now=2000.0 + t, throttle=throttle).result for t in range(12)]
        assert results == [ClaimResult.CLAIMED] * 10 + [ClaimResult.LOCKED] * 2
        record = store.load("alice")
        assert record is not None
        assert (record.status, record.failures) == (Status.LOCKED, 10)

    def test_pending_lockout_keeps_the_enrolment_pending(self, store: Store) -> None:
        """A confirmation that used up its attempts is refused; the user begins again (no LOCKED state)."""
        assert begin(store)
        throttle = Throttle(free_attempts=1, lockout=2, base_delay=0.001)
        results = [
            claim(store, now=2000.0 + t, throttle=throttle, status=Status.PENDING).result for t in range(3)
        ]
        assert results == [ClaimResult.CLAIMED, ClaimResult.CLAIMED, ClaimResult.LOCKED]
        record = store.load("alice")
        assert record is not None
        assert record.status is Status.PENDING

    def test_a_fast_clock_cannot_stretch_the_wait(self, store: Store) -> None:
        """A failure written by a clock 10 minutes fast makes a correct server wait the policy's delay."""
        enroll(store)
        throttle = Throttle(free_attempts=0, base_delay=2.0)
        assert claim(store, now=2600.0, throttle=throttle).result is ClaimResult.CLAIMED  # the fast node
        refused = claim(store, now=2000.0, throttle=throttle)  # a correct node, at the same moment
        assert refused.result is ClaimResult.THROTTLED
        assert refused.retry_after == throttle.delay_after(1) == 2.0
        record = store.load("alice")
        assert record is not None
        assert record.next_attempt_at == 2002.0  # pulled back, so the wait does not start over
        assert claim(store, now=2001.0, throttle=throttle).retry_after == 1.0
        assert claim(store, now=2002.0, throttle=throttle).result is ClaimResult.CLAIMED

    def test_free_attempts_impose_no_wait_whatever_the_clock(self, store: Store) -> None:
        """Within the free attempts no clock, however far ahead, makes anyone wait."""
        enroll(store)
        throttle = Throttle(free_attempts=3)
        assert claim(store, now=1e9, throttle=throttle).result is ClaimResult.CLAIMED
        assert claim(store, now=2000.0, throttle=throttle).result is ClaimResult.CLAIMED

    def test_a_refusing_check_writes_nothing(self, store: Store) -> None:
        """A record the caller cannot use is refused inside the claim, which then counts nothing."""
        enroll(store)
        before = store.load("alice")

        def refuse(record: UserRecord) -> None:
            assert record.user_id == "alice"
            raise RecordError("unusable")

        with pytest.raises(RecordError, match="unusable"):
            store.claim_attempt("alice", status=Status.ENABLED, now=2000.0, throttle=Throttle(), check=refuse)
        assert store.load("alice") == before

    def test_the_check_is_not_run_for_refusals(self, store: Store) -> None:
        """Throttled, locked and unknown users are refused without consulting the check."""
        enroll(store)
        seen: list[str] = []
        throttle = Throttle(free_attempts=0, base_delay=30.0)
        for now in (2000.0, 2001.0):
            store.claim_attempt(
                "alice",
                status=Status.ENABLED,
                now=now,
                throttle=throttle,
                check=lambda r: seen.append(r.user_id),
            )
        store.claim_attempt(
            "ghost",
            status=Status.ENABLED,
            now=2000.0,
            throttle=throttle,
            check=lambda r: seen.append(r.user_id),
        )
        assert seen == ["alice"]


class TestLockIfExhausted:
    """The lockout-th consecutive failure locks an ENABLED credential."""

    def test_locks_at_the_lockout(self, store: Store) -> None:
        """One failure short does not lock; reaching the lockout does, once."""
        enroll(store)
        throttle = Throttle(free_attempts=2, lockout=3, base_delay=1.0)
        for t in range(2):
            claim(store, "alice", now=2000.0 + 10 * t, throttle=throttle)
        assert not store.lock_if_exhausted("alice", enrollment_id=EID, throttle=throttle, now=2020.0)
        claim(store, "alice", now=2030.0, throttle=throttle)
        assert store.lock_if_exhausted("alice", enrollment_id=EID, throttle=throttle, now=2031.0)
        assert not store.lock_if_exhausted("alice", enrollment_id=EID, throttle=throttle, now=2032.0)
        record = store.load("alice")
        assert record is not None
        assert record.status is Status.LOCKED
        assert record.updated_at == 2031.0

    def test_only_enabled_records(self, store: Store) -> None:
        """A PENDING record (or none) is never locked: a new enrollment replaces it."""
        assert begin(store)
        throttle = Throttle(free_attempts=0, lockout=1)
        claim(store, "alice", now=1001.0, throttle=throttle, status=Status.PENDING)
        assert not store.lock_if_exhausted("alice", enrollment_id=EID, throttle=throttle, now=1002.0)
        assert not store.lock_if_exhausted("ghost", enrollment_id=EID, throttle=throttle, now=1002.0)


class TestAcceptStep:
    """The replay guard: a step is accepted only if later than every accepted one."""

    def test_accepts_a_later_step_and_clears_failures(self, store: Store) -> None:
        """last_step, drift and updated_at move; failures and the delay are cleared."""
        enroll(store)
        claim(store, "alice", now=2000.0, throttle=Throttle(free_attempts=0))
        assert store.accept_step("alice", enrollment_id=EID, step=CONFIRM_STEP + 2, drift=-1, now=2001.0)
        record = store.load("alice")
        assert record is not None
        assert (record.last_step, record.drift, record.failures) == (CONFIRM_STEP + 2, -1, 0)
        assert (record.next_attempt_at, record.updated_at) == (0.0, 2001.0)

    @pytest.mark.parametrize("offset", [0, -1, -CONFIRM_STEP])
    def test_refuses_the_same_or_an_earlier_step(self, store: Store, offset: int) -> None:
        """A replay, or an older code, changes nothing."""
        enroll(store)
        before = store.load("alice")
        assert not store.accept_step(
            "alice", enrollment_id=EID, step=CONFIRM_STEP + offset, drift=3, now=2000.0
        )
        assert store.load("alice") == before

    def test_each_step_once(self, store: Store) -> None:
        """The same step twice: the second is a replay."""
        enroll(store)
        assert store.accept_step("alice", enrollment_id=EID, step=CONFIRM_STEP + 1, drift=0, now=2000.0)
        assert not store.accept_step("alice", enrollment_id=EID, step=CONFIRM_STEP + 1, drift=0, now=2000.0)

    def test_only_enabled_records(self, store: Store) -> None:
        """PENDING, LOCKED and unknown users cannot log in."""
        assert begin(store, "pending")
        enroll(store, "locked")
        lock(store, "locked")
        for user in ("pending", "locked", "ghost"):
            assert not store.accept_step(user, enrollment_id=EID, step=10**6, drift=0, now=3000.0)

    def test_steps_beyond_63_bits(self, store: Store) -> None:
        """Steps near 2**64 - 1 (signed BIGINT overflows) are stored and compared exactly."""
        enroll(store, step=2**63 - 1)
        assert store.accept_step("alice", enrollment_id=EID, step=2**63, drift=0, now=2000.0)
        assert not store.accept_step("alice", enrollment_id=EID, step=2**63 - 1, drift=0, now=2000.0)
        assert store.accept_step("alice", enrollment_id=EID, step=STEP_MAX - 1, drift=0, now=2001.0)
        assert store.accept_step("alice", enrollment_id=EID, step=STEP_MAX, drift=0, now=2002.0)
        assert not store.accept_step("alice", enrollment_id=EID, step=STEP_MAX, drift=0, now=2003.0)
        record = store.load("alice")
        assert record is not None
        assert record.last_step == STEP_MAX
        assert type(record.last_step) is int

    def test_small_after_large_digit_count(self, store: Store) -> None:
        """Ordering is numeric, not textual: 10 > 9 and 100 > 99."""
        enroll(store, step=9)
        assert store.accept_step("alice", enrollment_id=EID, step=10, drift=0, now=1.0)
        assert not store.accept_step("alice", enrollment_id=EID, step=9, drift=0, now=1.0)
        assert store.accept_step("alice", enrollment_id=EID, step=100, drift=0, now=1.0)

    @pytest.mark.parametrize("step", [-1, 2**64])
    def test_step_out_of_range(self, store: Store, step: int) -> None:
        """Out-of-range steps are a programming error, not a replay."""
        enroll(store)
        with pytest.raises(ConfigurationError):
            store.accept_step("alice", enrollment_id=EID, step=step, drift=0, now=1.0)

    def test_step_must_be_an_int(self, store: Store) -> None:
        """A bool or float step is refused before reaching the database."""
        enroll(store)
        with pytest.raises(TypeError):
            store.accept_step("alice", enrollment_id=EID, step=True, drift=0, now=1.0)


class TestEnrolmentGuard:
    """Every write after a claim names the enrolment claimed: a reset and a new enrolment void it."""

    def test_writes_for_another_enrolment_change_nothing(self, store: Store) -> None:
        """accept_step, consume_recovery, replace_recovery and lock_if_exhausted need the enrolment id."""
        enroll(store)
        throttle = Throttle(free_attempts=0, lockout=1)
        claim(store, now=2000.0, throttle=throttle)
        before = store.load("alice")
        assert not store.accept_step("alice", enrollment_id=OTHER, step=CONFIRM_STEP + 1, drift=0, now=2001.0)
        assert (
            store.consume_recovery("alice", enrollment_id=OTHER, index=0, digest=DIGESTS[0], now=2001.0)
            is None
        )
        assert not store.replace_recovery(
            "alice", enrollment_id=OTHER, recovery_params="p", digests=[], now=1.0
        )
        assert not store.lock_if_exhausted("alice", enrollment_id=OTHER, throttle=throttle, now=2001.0)
        assert store.load("alice") == before

    def test_a_reset_voids_writes_in_flight(self, store: Store) -> None:
        """Claimed before a reset, accepted after a new enrolment: the old enrolment's write fails."""
        enroll(store)
        claimed = claim(store, now=2000.0, throttle=Throttle())
        assert claimed.record is not None
        assert store.reset("alice")
        enroll(store, enrollment_id=OTHER, now=2001.0)
        old = claimed.record.enrollment_id
        assert not store.accept_step("alice", enrollment_id=old, step=CONFIRM_STEP + 1, drift=0, now=2002.0)
        assert (
            store.consume_recovery("alice", enrollment_id=old, index=0, digest=DIGESTS[0], now=2002.0) is None
        )
        assert store.accept_step("alice", enrollment_id=OTHER, step=CONFIRM_STEP + 1, drift=0, now=2003.0)


class TestRecoveryCodes:
    """Each recovery code works once; the set can be replaced while ENABLED."""

    def test_consumes_once(self, store: Store) -> None:
        """The first use returns the codes left; the second returns None."""
        enroll(store)
        assert store.consume_recovery("alice", enrollment_id=EID, index=2, digest=DIGESTS[2], now=2000.0) == 4
        assert (
            store.consume_recovery("alice", enrollment_id=EID, index=2, digest=DIGESTS[2], now=2001.0) is None
        )
        record = store.load("alice")
        assert record is not None
        assert [index for index, _ in record.recovery] == [0, 1, 3, 4]

    def test_clears_failures(self, store: Store) -> None:
        """A recovery login is a success: the throttle starts again."""
        enroll(store)
        claim(store, "alice", now=2000.0, throttle=Throttle(free_attempts=0))
        assert store.consume_recovery("alice", enrollment_id=EID, index=0, digest=DIGESTS[0], now=2001.0) == 4
        record = store.load("alice")
        assert record is not None
        assert (record.failures, record.next_attempt_at, record.updated_at) == (0, 0.0, 2001.0)

    @pytest.mark.parametrize(("index", "digest"), [(0, DIGESTS[1]), (1, DIGESTS[0]), (9, DIGESTS[0])])
    def test_index_and_digest_must_both_match(self, store: Store, index: int, digest: bytes) -> None:
        """A digest under another index consumes nothing."""
        enroll(store)
        claim(store, "alice", now=2000.0, throttle=Throttle(free_attempts=0))
        before = store.load("alice")
        assert (
            store.consume_recovery("alice", enrollment_id=EID, index=index, digest=digest, now=2001.0) is None
        )
        assert store.load("alice") == before

    def test_until_none_left(self, store: Store) -> None:
        """The count goes down to zero."""
        enroll(store)
        left = [
            store.consume_recovery("alice", enrollment_id=EID, index=i, digest=d, now=2000.0)
            for i, d in enumerate(DIGESTS)
        ]
        assert left == [4, 3, 2, 1, 0]

    def test_only_enabled_records(self, store: Store) -> None:
        """A LOCKED user cannot get in with a recovery code; support must reset."""
        enroll(store)
        lock(store)
        assert (
            store.consume_recovery("alice", enrollment_id=EID, index=0, digest=DIGESTS[0], now=3000.0) is None
        )
        assert (
            store.consume_recovery("ghost", enrollment_id=EID, index=0, digest=DIGESTS[0], now=3000.0) is None
        )
        record = store.load("alice")
        assert record is not None
        assert len(record.recovery) == 5

    def test_replace_invalidates_every_old_code(self, store: Store) -> None:
        """The new set, indexed from 0, replaces the old one entirely."""
        enroll(store)
        new = [b"new-0", b"new-1"]
        assert store.replace_recovery(
            "alice", enrollment_id=EID, recovery_params="$v2$", digests=new, now=3000.0
        )
        record = store.load("alice")
        assert record is not None
        assert record.recovery == ((0, b"new-0"), (1, b"new-1"))
        assert (record.recovery_params, record.updated_at) == ("$v2$", 3000.0)
        assert (
            store.consume_recovery("alice", enrollment_id=EID, index=0, digest=DIGESTS[0], now=3001.0) is None
        )
        assert store.consume_recovery("alice", enrollment_id=EID, index=1, digest=b"new-1", now=3002.0) == 1

    def test_replace_only_when_enabled(self, store: Store) -> None:
        """PENDING, LOCKED and unknown users get no new set."""
        assert begin(store, "pending")
        enroll(store, "locked")
        lock(store, "locked")
        for user in ("pending", "locked", "ghost"):
            assert not store.replace_recovery(
                user, enrollment_id=EID, recovery_params="p", digests=[b"x"], now=1.0
            )
        record = store.load("locked")
        assert record is not None
        assert record.recovery == tuple(enumerate(DIGESTS))


class TestKeyRotation:
    """Resealing swaps the sealed secret only if nobody changed it meanwhile."""

    def test_reseal_and_stale_keys(self, store: Store) -> None:
        """stale_keys lists users under other keys; reseal moves them to the current one."""
        enroll(store, "alice")
        enroll(store, "bob")
        assert begin(store, "carol")
        assert store.stale_keys("k1") == []
        assert store.stale_keys("k2") == ["alice", "bob", "carol"]
        assert store.reseal("bob", old=SECRET, new=b"resealed", key_id="k2", now=4000.0)
        assert store.stale_keys("k2") == ["alice", "carol"]
        record = store.load("bob")
        assert record is not None
        assert (record.sealed_secret, record.key_id, record.updated_at) == (b"resealed", "k2", 4000.0)
        assert record.status is Status.ENABLED

    def test_reseal_refuses_a_changed_secret(self, store: Store) -> None:
        """A concurrent re-enrollment wins over a rotation that read the old secret."""
        assert begin(store, secret=b"v1")
        assert begin(store, secret=b"v2")
        assert not store.reseal("alice", old=b"v1", new=b"x", key_id="k2", now=1.0)
        assert not store.reseal("ghost", old=b"v1", new=b"x", key_id="k2", now=1.0)
        record = store.load("alice")
        assert record is not None
        assert (record.sealed_secret, record.key_id) == (b"v2", "k1")

    def test_unsealed_recovery_sets_are_stale(self, store: Store) -> None:
        """A set whose digests are not sealed yet (scheme rc1) needs a rotation even under the current key."""
        enroll(store, "alice")
        enroll(store, "bob")
        legacy = f"${recovery.SCHEME}$v=19$m=8,t=1,p=1,c=16$AAAAAAAAAAAAAAAAAAAAAA"
        assert store.replace_recovery(
            "bob", enrollment_id=EID, recovery_params=legacy, digests=DIGESTS, now=1.0
        )
        assert store.stale_keys("k1") == ["bob"]

    def test_reseal_recovery_swaps_unused_digests_once(self, store: Store) -> None:
        """The parameters are compared and swapped; a code consumed meanwhile stays consumed."""
        enroll(store)
        assert store.consume_recovery("alice", enrollment_id=EID, index=1, digest=DIGESTS[1], now=2.0) == 4
        swaps = [(i, d, b"sealed-%d" % i) for i, d in enumerate(DIGESTS)]
        assert not store.reseal_recovery(
            "alice", old_params="$other$", new_params="$new$", digests=swaps, now=3.0
        )
        assert store.reseal_recovery("alice", old_params="$test$", new_params="$new$", digests=swaps, now=3.0)
        record = store.load("alice")
        assert record is not None
        assert record.recovery_params == "$new$"
        assert record.recovery == tuple((i, b"sealed-%d" % i) for i in (0, 2, 3, 4))
        assert not store.reseal_recovery(
            "alice", old_params="$test$", new_params="$x$", digests=swaps, now=4.0
        )
        assert not store.reseal_recovery(
            "ghost", old_params="$test$", new_params="$x$", digests=swaps, now=4.0
        )


class TestReset:
    """A support reset wipes everything about the user."""

    def test_wipes_the_record_and_codes(self, store: Store) -> None:
        """Back to NONE; the user can enrol again from scratch."""
        enroll(store)
        lock(store)
        assert store.reset("alice")
        assert store.load("alice") is None
        assert not store.reset("alice")
        enroll(store, secret=b"fresh", digests=[b"only"])
        record = store.load("alice")
        assert record is not None
        assert record.recovery == ((0, b"only"),)
        assert record.failures == 0

    def test_other_users_untouched(self, store: Store) -> None:
        """Only the named user is reset."""
        enroll(store, "alice")
        enroll(store, "bob")
        assert store.reset("alice")
        bob = store.load("bob")
        assert bob is not None
        assert len(bob.recovery) == 5


class TestValues:
    """Values come back exactly as they went in."""

    def test_binary_secret_and_unicode_user(self, store: Store) -> None:
        """NUL and 0xFF bytes, non-ASCII user ids and float times round-trip."""
        blob = bytes(range(256))
        user = "d\u00e9j\u00e0-\U0001f511"
        assert store.begin(
            user,
            enrollment_id=EID,
            sealed_secret=blob,
            key_id="k\u00e9",
            digits=6,
            period=30,
            algorithm="SHA1",
            now=0.1,
        )
        record = store.load(user)
        assert record is not None
        assert record.sealed_secret == blob
        assert record.key_id == "k\u00e9"
        assert record.created_at == 0.1
        assert store.load("d\u00e9j\u00e0") is None

    def test_integer_times_come_back_as_floats(self, store: Store) -> None:
        """Timestamps are floats whatever the caller passed."""
        assert store.begin(
            "alice",
            enrollment_id=EID,
            sealed_secret=SECRET,
            key_id="k",
            digits=6,
            period=30,
            algorithm="SHA1",
            now=5,
        )
        record = store.load("alice")
        assert record is not None
        assert type(record.created_at) is float
        assert type(record.next_attempt_at) is float


class TestClose:
    """A closed store refuses to work rather than pretend."""

    def test_operations_after_close_raise(self, backend: Backend) -> None:
        """Every operation raises StoreError once closed; close is idempotent."""
        store = backend.open()
        enroll(store)
        store.close()
        store.close()
        with pytest.raises(StoreError, match="closed"):
            store.load("alice")
        with pytest.raises(StoreError, match="closed"):
            store.accept_step("alice", enrollment_id=EID, step=CONFIRM_STEP + 1, drift=0, now=1.0)
        with pytest.raises(StoreError, match="closed"):
            store.create_schema()
