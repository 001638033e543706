"""MfaService on shared state (issue 13): server clocks that disagree or lie, enrolments replaced midway."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import cast

import pytest

from service_support import BAD_CLOCKS, CHEAP_KDF, CLOCK_CALLS, RING, Clock, Phone, Spy, enrol
from totpcore import ConfigurationError, EnrollmentError
from totpcore.service import AuditEvent, EventType, LoginResult, Method, MfaService, Outcome, Policy
from totpcore.store import ClaimResult, Status, Store
from totpcore.throttle import Throttle

ALL = pytest.mark.parametrize("backend", ["memory", "sqlite", "postgres"], indirect=True)
#: No free attempt: one failure makes the next attempt wait 5 s (the policy's delay).
STRICT = Throttle(free_attempts=0, base_delay=5.0, max_delay=60.0)
FAST = 600.0  # a server whose clock is 10 minutes fast
SLOW = -3600.0  # a server whose clock is an hour slow


def server(
    store: Store | Spy,
    clock: Callable[[], object],
    *,
    throttle: Throttle = STRICT,
    events: list[AuditEvent] | None = None,
) -> MfaService:
    """One app server: its own clock, the shared store and key ring."""
    return MfaService(
        cast("Store", store),
        issuer="Outsmart EMR",
        keyring=RING,
        policy=Policy(recovery_kdf=CHEAP_KDF, throttle=throttle),
        clock=cast("Callable[[], float]", clock),
        audit=(lambda _: None) if events is None else events.append,
    )


def re_enrol(service: MfaService, clock: Clock) -> tuple[Phone, list[str]]:
    """Support resets alice, who enrols a new phone and confirms it at once."""
    service.reset("alice", actor="helpdesk", reason="lost phone")
    return enrol(service, clock)


@ALL
class TestClockSkew:
    """A server with a wrong clock delays a user by the policy's delay at most, on every server (13.1)."""

    @pytest.mark.parametrize("factor", ["app", "recovery"])
    def test_a_fast_server_cannot_stretch_the_wait(self, store: Store, factor: str) -> None:
        """One failure on a server 10 min fast: a correct server waits delay_after(1), not 605 s."""
        clock = Clock()
        correct, fast = server(store, clock), server(store, lambda: clock.now + FAST)
        phone, codes = enrol(correct, clock)
        clock.advance(30)
        # The user's genuine code is 20 steps behind the fast server's window.
        assert fast.verify("alice", phone.code()) == LoginResult(Outcome.INVALID, Method.TOTP)
        right = phone.code() if factor == "app" else codes[0]
        refused = correct.verify("alice", right)
        assert refused.outcome is Outcome.THROTTLED
        assert 0 < refused.retry_after <= STRICT.delay_after(1)
        assert correct.state("alice").retry_after == refused.retry_after
        clock.advance(refused.retry_after)
        assert correct.verify("alice", right).ok

    def test_a_slow_server_cannot_stretch_the_wait(self, store: Store) -> None:
        """One failure on a correct server: a server 1 h slow waits delay_after(1), not 3,605 s."""
        clock = Clock()
        correct, slow = server(store, clock), server(store, lambda: clock.now + SLOW)
        phone, codes = enrol(correct, clock)
        clock.advance(30)
        assert correct.verify("alice", phone.wrong_code()).outcome is Outcome.INVALID
        for attempt in (phone.code(), codes[0]):  # the claim refuses both factors before evaluating
            refused = slow.verify("alice", attempt)
            assert refused.outcome is Outcome.THROTTLED
            assert 0 < refused.retry_after <= STRICT.delay_after(1)
        clock.advance(STRICT.delay_after(1))
        # An app code cannot match on a server an hour slow; a recovery code does not depend on time.
        assert slow.verify("alice", codes[0]).ok

    def test_free_attempts_impose_no_wait_whatever_the_clock(self, store: Store) -> None:
        """Within the free attempts, a failure written by a fast or a correct clock delays nobody."""
        clock, free = Clock(), Throttle(free_attempts=3)
        correct = server(store, clock, throttle=free)
        fast = server(store, lambda: clock.now + FAST, throttle=free)
        slow = server(store, lambda: clock.now + SLOW, throttle=free)
        phone, codes = enrol(correct, clock)
        clock.advance(30)
        assert fast.verify("alice", phone.code()).outcome is Outcome.INVALID
        assert correct.state("alice").retry_after == 0.0
        assert correct.verify("alice", phone.code()).ok
        clock.advance(30)
        assert correct.verify("alice", phone.wrong_code()).outcome is Outcome.INVALID
        assert slow.state("alice").retry_after == 0.0
        assert slow.verify("alice", codes[0]).ok


@ALL
@pytest.mark.parametrize("call", CLOCK_CALLS)
def test_a_bad_clock_is_refused_before_the_store_is_touched(store: Store, call: str) -> None:
    """NaN, infinities, negatives, beyond 64-bit steps, a str, None, a bool: ConfigurationError, no effect."""
    clock = Clock()
    good = server(store, clock)
    enrol(good, clock)
    good.begin_enrollment("bob", account="bob")
    before = [store.load(user) for user in ("alice", "bob")]
    spy, events, reading = Spy(store), list[AuditEvent](), [cast("object", None)]
    bad = server(spy, lambda: reading[0], events=events)
    for value in BAD_CLOCKS:
        reading[0] = value
        with pytest.raises(ConfigurationError, match="clock"):
            CLOCK_CALLS[call](bad)
    assert spy.calls == []
    assert events == []
    assert [store.load(user) for user in ("alice", "bob")] == before


@pytest.mark.parametrize("value", [value for value in BAD_CLOCKS if value is not None])
def test_mandatory_from_is_a_time_the_clock_could_report(value: object) -> None:
    """Policy.mandatory_from takes the times a clock may return, and None; anything else is refused."""
    with pytest.raises(ConfigurationError, match="mandatory_from"):
        Policy(mandatory_from=value)  # type: ignore[arg-type]
    assert [Policy(mandatory_from=t).mandatory_from for t in (0, 2**64 - 1, None)] == [0, 2**64 - 1, None]


@dataclasses.dataclass
class Midway:
    """Server A, whose request support and the user on server B interrupt; what B left behind."""

    a: MfaService
    b: MfaService
    events: list[AuditEvent]  # A's audit events
    old_phone: Phone
    old_codes: list[str]
    fresh: list[tuple[Phone, list[str]]]  # B's new enrolment: phone and recovery codes, once made


def midway(
    store: Store, clock: Clock, after: str, throttle: Throttle = STRICT, then: Callable[[], object] = list
) -> Midway:
    """Alice enrolled through B, and A set to be interrupted right after its next *after* store call.

    The interruption: support resets alice on B, she enrols a new phone and confirms it
    there, and *then* runs.
    """
    spy, events = Spy(store), list[AuditEvent]()
    a, b = server(spy, clock, throttle=throttle, events=events), server(store, clock, throttle=throttle)
    old_phone, old_codes = enrol(b, clock)
    clock.advance(30)
    fresh: list[tuple[Phone, list[str]]] = []

    def interrupt() -> None:
        fresh.append(re_enrol(b, clock))
        then()

    spy.after[after] = interrupt
    return Midway(a, b, events, old_phone, old_codes, fresh)


@ALL
class TestEnrolmentGeneration:
    """A claims for one enrolment; support resets, the user re-enrols on B; A's write then fails (13.3).

    A runs over a store wrapper that lets B's whole reset, begin and confirm happen
    right after A's claim (or A's accept), on the same store.
    """

    def test_an_old_app_code_is_not_accepted_into_the_new_enrolment(self, store: Store) -> None:
        """accept_step names the claimed enrolment: A reports REPLAYED, B's enrolment keeps its last step."""
        clock = Clock()
        scene = midway(store, clock, after="claim_attempt")
        # A step later than B's confirmation, so only the enrolment id can refuse it.
        result = scene.a.verify("alice", scene.old_phone.code(steps_later=1))
        assert result == LoginResult(Outcome.REPLAYED, Method.TOTP)
        assert (scene.events[-1].type, scene.events[-1].outcome, scene.events[-1].method) == (
            EventType.LOGIN,
            Outcome.REPLAYED,
            Method.TOTP,
        )
        record = store.load("alice")
        assert record is not None
        assert (record.status, record.last_step, record.failures) == (Status.ENABLED, int(clock.now) // 30, 0)
        new_phone, _ = scene.fresh[0]
        assert scene.b.verify("alice", new_phone.code(steps_later=1)).ok

    def test_an_old_recovery_code_is_not_consumed_from_the_new_enrolment(self, store: Store) -> None:
        """consume_recovery names the claimed enrolment: A reports REPLAYED, the new set is whole."""
        scene = midway(store, Clock(), after="claim_attempt")
        assert scene.a.verify("alice", scene.old_codes[0]) == LoginResult(Outcome.REPLAYED, Method.RECOVERY)
        assert (scene.events[-1].type, scene.events[-1].outcome, scene.events[-1].method) == (
            EventType.LOGIN,
            Outcome.REPLAYED,
            Method.RECOVERY,
        )
        state = scene.b.state("alice")
        assert (state.status, state.recovery_codes_left) == (Status.ENABLED, 5)
        _, new_codes = scene.fresh[0]
        assert scene.b.verify("alice", new_codes[0]).ok

    def test_a_regeneration_does_not_replace_the_new_enrolments_codes(self, store: Store) -> None:
        """replace_recovery names the claimed enrolment: A raises and audits NOT_ENROLLED; B's codes work."""
        scene = midway(store, Clock(), after="accept_step")
        with pytest.raises(EnrollmentError, match="reset meanwhile"):
            scene.a.regenerate_recovery_codes("alice", scene.old_phone.code())
        assert [(e.type, e.outcome) for e in scene.events] == [
            (EventType.LOGIN, Outcome.ACCEPTED),  # the code was good, for the enrolment then in force
            (EventType.RECOVERY_CODES_REGENERATED, Outcome.NOT_ENROLLED),
        ]
        _, new_codes = scene.fresh[0]
        assert scene.b.state("alice").recovery_codes_left == 5
        assert all(scene.b.verify("alice", code).ok for code in new_codes)

    def test_a_failed_guess_does_not_lock_the_new_enrolment(self, store: Store) -> None:
        """lock_if_exhausted names the claimed enrolment: A's failure cannot lock B's enrolment.

        The new enrolment has `lockout` attempts claimed and still in flight (on other
        servers): when those fail they lock it themselves; A's failure, for the old
        enrolment, must not.
        """
        clock, throttle = Clock(), Throttle(free_attempts=2, lockout=3)

        def claim_lockout_attempts() -> None:
            for _ in range(throttle.lockout):
                claimed = store.claim_attempt(
                    "alice", status=Status.ENABLED, now=clock.now, throttle=throttle
                )
                assert claimed.result is ClaimResult.CLAIMED

        scene = midway(store, clock, after="claim_attempt", throttle=throttle, then=claim_lockout_attempts)
        assert scene.a.verify("alice", scene.old_phone.wrong_code()) == LoginResult(
            Outcome.INVALID, Method.TOTP
        )
        assert (scene.events[-1].type, scene.events[-1].outcome) == (EventType.LOGIN, Outcome.INVALID)
        record = store.load("alice")
        assert record is not None
        assert (record.status, record.failures) == (Status.ENABLED, throttle.lockout)
