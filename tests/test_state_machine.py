"""The whole state layer against a small reference model (issue 13.5), driven by Hypothesis.

One user, two app servers with their own clocks, one store. Hypothesis picks any sequence
of: begin and confirm an enrolment; verify with right, wrong, replayed and malformed app
codes and with unused, used, wrong and malformed recovery codes; resync; regenerate the
recovery codes; reset; disable; rotate the key ring; move the clock forward, back, by
jumps, or skew the second server against the first; and clocks that lie. After every step
the service must agree with the model (:class:`Model`), and three rules must hold that do
not depend on the model:

- no time step is accepted twice for one enrolment (accepted steps only increase);
- no recovery code is accepted twice;
- failures evaluated since the last success never exceed the lockout.

Nothing may be raised but what each method documents. MemoryStore and SQLite run in every
``make test``; PostgreSQL too when ``CI`` is set. ``make soak`` runs the long profile
(``HYPOTHESIS_PROFILE=soak``) on all three.
"""

from __future__ import annotations

import dataclasses
import functools
import os
from collections.abc import Callable
from typing import ClassVar, TypeVar, cast

import pyotp
import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    rule,
    run_state_machine_as_test,
)

from service_support import BAD_CLOCKS, CHEAP_KDF, CLOCK_CALLS, START
from totpcore import (
    ConfigurationError,
    EnrollmentError,
    MalformedCode,
    PolicyError,
    ReplayedCode,
    TotpcoreError,
    VerificationError,
)
from totpcore.recovery import generate_codes
from totpcore.sealing import KeyRing
from totpcore.service import Enrollment, KeyRotation, LoginResult, Method, MfaService, Outcome, Policy
from totpcore.store import Status, Store
from totpcore.throttle import Throttle

T = TypeVar("T")
USER = "alice"
#: Two free failures, then 1, 2, 4 s; the fifth failure locks: both happen within a run.
THROTTLE = Throttle(free_attempts=2, lockout=5, base_delay=1.0, growth=2.0, max_delay=8.0)
SEARCH = 60  # resync searches an hour either side: wide enough to matter, cheap to check
POLICY = Policy(recovery_kdf=CHEAP_KDF, throttle=THROTTLE, resync_search=SEARCH, recovery_count=3)
PERIOD = POLICY.period
MALFORMED_APP_CODES = ("12345", "1234567")  # digits, so taken for app codes, of the wrong length
MAX_RUN = 10  # codes in one resync
NOT_A_CODE = "not a code!"  # neither an app code nor a recovery code
#: resync() arguments that are not a list or tuple of 2 to 10 well-formed codes.
MALFORMED_RUNS: tuple[object, ...] = (["12345", "123456"], "123456654321", ["123456"] * 11, None)
LIVED = (Status.ENABLED, Status.LOCKED)  # the statuses with a recovery set
#: Kinds of app code; right ones weigh more, so that runs get past enrolment and lock out late.
APP_CODES = st.sampled_from(["right", "right", "right", "wrong", "malformed", "replay"])

SOAK = os.environ.get("HYPOTHESIS_PROFILE") == "soak"
#: make test: a run of well under two minutes per store; make soak: the loaded profile's run.
RUN = (
    settings()
    if SOAK
    else settings(
        max_examples=100,
        stateful_step_count=50,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow],
    )
)
BACKENDS = ["memory", "sqlite", *(["postgres"] if SOAK or os.environ.get("CI") else [])]


def code_at(secret: str, step: int) -> str:
    """The app code of *secret* for time step *step* (pyotp: an independent implementation)."""
    return str(pyotp.HOTP(secret).at(step))


def well_formed(code: object) -> bool:
    """Whether *code* is an app code at all: 6 ASCII digits."""
    return isinstance(code, str) and len(code) == POLICY.digits and code.isascii() and code.isdigit()


def nearest(steps: list[int], expected: int, last_step: int | None) -> int | Outcome:
    """The accepted step among the matching *steps*: REPLAYED if none is after *last_step*.

    Else the one nearest *expected*, the earlier on a tie; INVALID when nothing matched.
    """
    if not steps:
        return Outcome.INVALID
    fresh = [step for step in steps if last_step is None or step > last_step]
    if not fresh:
        return Outcome.REPLAYED
    return min(fresh, key=lambda step: (abs(step - expected), step))


@dataclasses.dataclass
class Model:
    """What one user's MFA state must be, by these rules, in plain words.

    - An attempt (verify, resync, confirm, regenerate) is refused as LOCKED when the
      user is locked; as NOT_ENROLLED when the user is not in the status it needs
      (PENDING for confirm, ENABLED for the others); as LOCKED when ``lockout`` failures
      are already counted (an ENABLED user becomes LOCKED then; a PENDING one stays
      PENDING); as THROTTLED while ``wait(now)`` is positive, and a deadline further away
      than that wait is pulled back to it. Otherwise it is counted before it is
      evaluated: one more failure, and a deadline of ``now + delay_after(failures)``.
    - The wait at ``now`` is ``min(deadline - now, delay_after(failures))``, never less
      than 0: whatever clock wrote the deadline, no longer than the policy's delay.
    - An app code matches the steps ``e - 1 .. e + 1``, ``e`` being the server's step plus
      the drift (no drift at confirmation). Nothing matches: INVALID; only steps up to the
      last accepted one: REPLAYED; else the fresh step nearest ``e`` (the earlier on a
      tie) is accepted and becomes the last step, and its offset from the server's step
      becomes the drift, within ``max(max_drift, |drift|)``.
    - A resync is accepted for the run of consecutive codes that ends within ``SEARCH``
      steps of the server's step, by the same rule; its offset becomes the drift as is.
    - A recovery code is accepted once, while unused; used and replaced codes never work.
    - A success clears the failures and the deadline. A failure that brings the count to
      the lockout locks an ENABLED user, and is reported as LOCKED.
    - begin (from NONE or PENDING) starts a new PENDING enrolment with nothing counted;
      reset forgets the user; regenerate replaces every unused recovery code; disable
      changes nothing.
    """

    status: Status = Status.NONE
    secret: str = ""  # base32, of the pending or enrolled secret
    failures: int = 0
    deadline: float = 0.0
    last_step: int | None = None
    drift: int = 0
    unused: list[str] = dataclasses.field(default_factory=list)
    spent: list[str] = dataclasses.field(default_factory=list)  # used or replaced

    def wait(self, now: float) -> float:
        """Seconds before an attempt at *now* can be evaluated."""
        return max(0.0, min(self.deadline - now, THROTTLE.delay_after(self.failures)))

    def claim(self, now: float, needed: Status) -> tuple[Outcome | None, float]:
        """Count an attempt at *now* (None), or refuse it: the outcome and retry_after."""
        if self.status is Status.LOCKED:
            return Outcome.LOCKED, 0.0
        if self.status is not needed:
            return Outcome.NOT_ENROLLED, 0.0
        if self.failures >= THROTTLE.lockout:
            if needed is Status.ENABLED:
                self.status = Status.LOCKED
            return Outcome.LOCKED, 0.0
        wait = self.wait(now)
        if wait > 0:
            if self.deadline - now > wait:
                self.deadline = now + wait
            return Outcome.THROTTLED, wait
        self.failures += 1
        self.deadline = now + THROTTLE.delay_after(self.failures)
        return None, 0.0

    def app_code(self, code: str, now_step: int, drift: int, last_step: int | None) -> int | Outcome:
        """The step *code* is accepted for, or why not."""
        if not well_formed(code):
            return Outcome.MALFORMED
        expected = now_step + drift
        window = range(max(0, expected - 1), expected + 2)
        return nearest([step for step in window if code_at(self.secret, step) == code], expected, last_step)

    def run(self, codes: object, now_step: int) -> int | Outcome:
        """The step a resync run is accepted for (its last code's), or why not."""
        if not isinstance(codes, (list, tuple)) or len(codes) > MAX_RUN or not all(map(well_formed, codes)):
            return Outcome.MALFORMED
        if len(codes) < 2:
            return Outcome.INVALID
        tail = len(codes) - 1
        ends = [
            end
            for end in range(max(now_step - SEARCH, tail), now_step + SEARCH + 1)
            if all(code_at(self.secret, end - tail + k) == code for k, code in enumerate(codes))
        ]
        return nearest(ends, now_step, self.last_step)

    def accept(self, step: int, drift: int) -> None:
        """A code or a run was accepted for *step*."""
        self.last_step, self.drift = step, drift
        self.succeed()

    def succeed(self) -> None:
        """A success clears the count and the deadline."""
        self.failures, self.deadline = 0, 0.0

    def fail(self) -> bool:
        """After a counted failure: lock an ENABLED user at the ceiling. Whether it locked."""
        if self.status is Status.ENABLED and self.failures >= THROTTLE.lockout:
            self.status = Status.LOCKED
            return True
        return False

    def use(self, code: str) -> None:
        """A recovery code was accepted: spent."""
        self.unused.remove(code)
        self.spent.append(code)
        self.succeed()

    def replace_codes(self, codes: list[str]) -> None:
        """A new recovery set; every earlier code is spent."""
        self.spent += self.unused
        self.unused = list(codes)

    def forget(self, status: Status = Status.NONE, secret: str = "") -> None:
        """Reset (NONE) or a new enrolment (PENDING): nothing of the old one remains."""
        self.replace_codes([])
        self.status, self.secret, self.last_step, self.drift = status, secret, None, 0
        self.succeed()


def answer(call: Callable[[], T]) -> T | TotpcoreError:
    """What *call* returns, or the documented exception it raises (confirm, regenerate, begin)."""
    try:
        return call()
    except (EnrollmentError, PolicyError, VerificationError) as exc:
        return exc


def outcome_of(error: VerificationError) -> Outcome:
    """The outcome the service reports for *error*."""
    if isinstance(error, ReplayedCode):
        return Outcome.REPLAYED
    return Outcome.MALFORMED if isinstance(error, MalformedCode) else Outcome.INVALID


class StateMachine(RuleBasedStateMachine):
    """MfaService on two servers and one store, step by step against :class:`Model`."""

    store: ClassVar[Store]  # set by the test, for every example of its run

    def __init__(self) -> None:
        super().__init__()
        assert self.store.load(USER) is None  # teardown() reset the previous example
        self.base = START  # server 0's clock; server 1 reads base + skew
        self.skew = 0.0
        self.lie: list[tuple[object] | None] = [None, None]  # a reading a server's clock returns instead
        self.keyring = KeyRing.generate()
        self.servers = self.build()
        self.model = Model()
        self.generation = 0  # bumped by every begin and reset: one enrolment, one generation
        self.accepted: dict[int, list[int]] = {}  # generation -> accepted steps, in order
        self.recovered: set[str] = set()  # recovery codes accepted so far
        self.evaluated_failures = 0  # since the last success, the last begin or the last reset

    def teardown(self) -> None:
        """Leave the store empty for the next example."""
        self.store.reset(USER)

    # -- the world ---------------------------------------------------------------------

    def build(self) -> list[MfaService]:
        """Both servers, with the current key ring (a rotation is deployed to both)."""
        return [
            MfaService(
                self.store,
                issuer="Outsmart EMR",
                keyring=self.keyring,
                policy=POLICY,
                clock=cast("Callable[[], float]", functools.partial(self.read, s)),
                audit=lambda _: None,
            )
            for s in (0, 1)
        ]

    def read(self, s: int) -> object:
        """What server *s*'s clock returns."""
        lie = self.lie[s]
        return lie[0] if lie is not None else self.now(s)

    def now(self, s: int) -> float:
        """Server *s*'s time."""
        return self.base + (self.skew if s else 0.0)

    def step(self, s: int) -> int:
        """Server *s*'s time step."""
        return int(self.now(s)) // PERIOD

    def app_code(self, kind: str, offset: int, s: int) -> str:
        """A code of *kind* for the user's secret, *offset* steps from server *s*'s step."""
        secret, step = self.model.secret or pyotp.random_base32(), self.step(s) + offset
        if kind == "malformed":
            return MALFORMED_APP_CODES[offset % 2]
        if kind == "replay" and self.model.last_step is not None:
            step = self.model.last_step
        code = code_at(secret, step)
        return f"{(int(code) + 1) % 10**6:06d}" if kind == "wrong" else code

    # -- bookkeeping that does not trust the model ---------------------------------------

    def new_enrolment(self) -> None:
        """A begin or a reset: a new generation, nothing evaluated yet."""
        self.generation += 1
        self.evaluated_failures = 0

    def evaluated(self, result: LoginResult) -> None:
        """Check and record an evaluated attempt (its method is set)."""
        if not result.ok:
            self.evaluated_failures += 1
            return
        self.evaluated_failures = 0
        if result.method is Method.RECOVERY:
            return
        record = self.store.load(USER)
        assert record is not None
        assert record.last_step is not None
        steps = self.accepted.setdefault(self.generation, [])
        assert all(step < record.last_step for step in steps), (steps, record.last_step)
        steps.append(record.last_step)

    def recovered_once(self, code: str) -> None:
        """A recovery code was accepted: never before."""
        assert code.upper() not in self.recovered
        self.recovered.add(code.upper())

    def refused(self, got: object, refusal: Outcome, retry: float) -> None:
        """Confirm or regenerate refused by the claim: EnrollmentError, or PolicyError with the outcome."""
        if refusal is Outcome.NOT_ENROLLED:
            assert isinstance(got, EnrollmentError)
            return
        assert isinstance(got, PolicyError)
        assert (got.outcome, got.retry_after) == (refusal, retry)

    def login(self, s: int, method: Method, evaluate: Callable[[], LoginResult]) -> LoginResult:
        """The result an attempt on server *s* must have: refused by the claim, or *evaluate*d."""
        refusal, retry = self.model.claim(self.now(s), Status.ENABLED)
        if refusal is not None:
            return LoginResult(refusal, retry_after=retry)
        result = evaluate()
        if not result.ok and self.model.fail():
            return LoginResult(Outcome.LOCKED, method)
        return result

    def login_app(self, code: str, s: int) -> LoginResult:
        """Evaluate an app code as verify() and regenerate do, after the claim."""
        model, now_step = self.model, self.step(s)
        step = model.app_code(code, now_step, model.drift, model.last_step)
        if isinstance(step, Outcome):
            return LoginResult(step, Method.TOTP)
        bound = max(POLICY.max_drift, abs(model.drift))
        model.accept(step, max(-bound, min(bound, step - now_step)))
        return LoginResult(Outcome.ACCEPTED, Method.TOTP)

    # -- enrolment -----------------------------------------------------------------------

    @initialize(status=st.sampled_from([Status.ENABLED, Status.ENABLED, Status.PENDING, Status.NONE]))
    def start(self, status: Status) -> None:
        """Half the runs start with the user enrolled, a quarter with an enrolment pending."""
        if status is Status.ENABLED:
            self.enrol(0)
        elif status is Status.PENDING:
            self.begin(0)

    @rule(s=st.integers(0, 1))
    def enrol(self, s: int) -> None:
        """Begin and confirm at once with the right code, as a user does."""
        self.begin(s)
        if self.model.status is Status.PENDING:
            self.confirm(s, "right", 0)

    @rule(s=st.integers(0, 1))
    def begin(self, s: int) -> None:
        """Begin an enrolment: refused for an ENABLED or LOCKED user."""
        got = answer(lambda: self.servers[s].begin_enrollment(USER, account=USER))
        if self.model.status in LIVED:
            assert isinstance(got, EnrollmentError)
            return
        assert isinstance(got, Enrollment)
        self.model.forget(Status.PENDING, got.secret_base32)
        self.new_enrolment()

    @rule(
        s=st.integers(0, 1),
        kind=APP_CODES,
        offset=st.integers(-2, 2),
    )
    def confirm(self, s: int, kind: str, offset: int) -> None:
        """Confirm with a code: EnrollmentError, PolicyError or a VerificationError, or the codes."""
        code, model = self.app_code(kind, offset, s), self.model
        refusal, retry = model.claim(self.now(s), Status.PENDING)
        got = answer(lambda: self.servers[s].confirm_enrollment(USER, code))
        if refusal is not None:
            self.refused(got, refusal, retry)
            return
        step = model.app_code(code, self.step(s), 0, None)
        if isinstance(step, Outcome):
            assert isinstance(got, VerificationError)
            assert outcome_of(got) is step
            self.evaluated(LoginResult(step, Method.TOTP))
            return
        assert isinstance(got, list)
        assert len(set(got)) == POLICY.recovery_count
        assert not set(got) & set(model.spent)
        model.status = Status.ENABLED
        model.accept(step, 0)
        model.replace_codes(got)
        self.evaluated(LoginResult(Outcome.ACCEPTED, Method.TOTP))

    # -- login ---------------------------------------------------------------------------

    @rule(
        s=st.integers(0, 1),
        kind=APP_CODES,
        offset=st.integers(-3, 3),
    )
    def verify_app_code(self, s: int, kind: str, offset: int) -> None:
        """An app code: right (within the window or not), wrong, malformed or the last accepted one.

        *offset* counts from the step the server expects (its own plus the learned drift):
        a phone that keeps drifting by a step walks the drift up to the bound.
        """
        code = self.app_code(kind, self.model.drift + offset, s)
        result = self.servers[s].verify(USER, code)
        assert result == self.login(s, Method.TOTP, lambda: self.login_app(code, s))
        if result.method is not None:
            self.evaluated(result)

    @rule(s=st.integers(0, 1), direction=st.sampled_from([-1, 1]), logins=st.integers(1, 4))
    def drifting_phone(self, s: int, direction: int, logins: int) -> None:
        """A phone whose clock drifts a step further each login: the learned drift follows, to its bound."""
        for _ in range(logins):
            self.base += PERIOD  # a login a step later
            self.verify_app_code(s, "right", direction)

    @rule(
        s=st.integers(0, 1),
        kind=st.sampled_from(["unused", "spent", "wrong", "malformed"]),
        index=st.integers(0, 20),
        lower=st.booleans(),
    )
    def verify_recovery_code(self, s: int, kind: str, index: int, lower: bool) -> None:
        """A recovery code: unused, used or replaced, never issued, or not a code at all."""
        pool = {"unused": self.model.unused, "spent": self.model.spent}.get(kind) or generate_codes(1)
        code = NOT_A_CODE if kind == "malformed" else pool[index % len(pool)]
        code = code.lower() if lower else code

        def evaluate() -> LoginResult:
            if code == NOT_A_CODE:
                return LoginResult(Outcome.MALFORMED, Method.RECOVERY)
            match = [unused for unused in self.model.unused if unused.upper() == code.upper()]
            if not match:
                return LoginResult(Outcome.INVALID, Method.RECOVERY)
            self.model.use(match[0])
            return LoginResult(Outcome.ACCEPTED, Method.RECOVERY, recovery_codes_left=len(self.model.unused))

        result = self.servers[s].verify(USER, code)
        assert result == self.login(s, Method.RECOVERY, evaluate)
        if result.ok:
            self.recovered_once(code)
        if result.method is not None:
            self.evaluated(result)

    @rule(
        s=st.integers(0, 1),
        kind=APP_CODES,
        start=st.integers(-SEARCH - 10, SEARCH + 10),
        length=st.integers(1, 3),
    )
    def resync(self, s: int, kind: str, start: int, length: int) -> None:
        """A run of codes *start* steps from the server's step: right, wrong, too short or malformed."""
        codes: object = [self.app_code(kind, start + k, s) for k in range(length)]
        if kind == "malformed":
            codes = MALFORMED_RUNS[start % len(MALFORMED_RUNS)]

        def evaluate() -> LoginResult:
            step = self.model.run(codes, self.step(s))
            if isinstance(step, Outcome):
                return LoginResult(step, Method.TOTP)
            self.model.accept(step, step - self.step(s))
            return LoginResult(Outcome.ACCEPTED, Method.TOTP)

        result = self.servers[s].resync(USER, codes)  # type: ignore[arg-type]
        assert result == self.login(s, Method.TOTP, evaluate)
        if result.method is not None:
            self.evaluated(result)

    @rule(
        s=st.integers(0, 1),
        kind=APP_CODES,
        offset=st.integers(-2, 2),
    )
    def regenerate(self, s: int, kind: str, offset: int) -> None:
        """New recovery codes for an app code: the old ones stop working."""
        code, model = self.app_code(kind, self.model.drift + offset, s), self.model
        refusal, retry = model.claim(self.now(s), Status.ENABLED)
        got = answer(lambda: self.servers[s].regenerate_recovery_codes(USER, code))
        if refusal is not None:
            self.refused(got, refusal, retry)
            return
        evaluated = self.login_app(code, s)
        if not evaluated.ok:
            model.fail()  # a failure that locks raises all the same; its audit event says LOCKED
            assert isinstance(got, VerificationError)
            assert outcome_of(got) is evaluated.outcome
            self.evaluated(evaluated)
            return
        assert isinstance(got, list)
        assert len(set(got)) == POLICY.recovery_count
        assert not set(got) & set(model.spent)
        model.replace_codes(got)
        self.evaluated(evaluated)

    @rule(
        s=st.integers(0, 1),
        via=st.sampled_from(["confirm", "app code", "recovery code", "resync"]),
        attempts=st.integers(1, THROTTLE.lockout + 1),
    )
    def guess(self, s: int, via: str, attempts: int) -> None:
        """A guesser sends wrong codes, each as soon as the throttle lets it (to the lockout and past it)."""
        if via == "confirm" and self.model.status is Status.NONE:
            self.begin(s)
        for _ in range(attempts):
            self.base += self.model.wait(self.now(s))
            if via == "confirm":
                self.confirm(s, "wrong", 0)
            elif via == "app code":
                self.verify_app_code(s, "wrong", 0)
            elif via == "recovery code":
                self.verify_recovery_code(s, "wrong", 0, lower=False)
            else:
                self.resync(s, "wrong", 0, 2)

    # -- support -------------------------------------------------------------------------

    @rule(s=st.integers(0, 1))
    def reset(self, s: int) -> None:
        """Support resets the user: back to NONE, whatever the status."""
        self.servers[s].reset(USER, actor="helpdesk", reason="ticket 42")
        self.model.forget()
        self.new_enrolment()

    @rule(s=st.integers(0, 1))
    def disable(self, s: int) -> None:
        """Disabling is refused and changes nothing."""
        with pytest.raises(PolicyError):
            self.servers[s].disable(USER)

    @rule(s=st.integers(0, 1))
    def rotate_keys(self, s: int) -> None:
        """A new key ring, deployed to both servers, then a rotation re-seals the user, if any."""
        self.keyring = self.keyring.rotated()
        self.servers = self.build()
        resealed = 0 if self.model.status is Status.NONE else 1
        assert self.servers[s].rotate_keys() == KeyRotation(resealed, ())

    # -- clocks --------------------------------------------------------------------------

    @rule(seconds=st.integers(-300, 300))
    def tick(self, seconds: int) -> None:
        """Both clocks move a little, forward or back."""
        self.base = max(self.base + seconds, float(SEARCH * PERIOD * 2))

    @rule(seconds=st.sampled_from([3600, 86_400, 30 * 86_400, 365 * 86_400]), forward=st.booleans())
    def jump(self, seconds: int, forward: bool) -> None:
        """Both clocks jump by an hour, a day, a month or a year."""
        self.base = max(self.base + (seconds if forward else -seconds), float(SEARCH * PERIOD * 2))

    @rule(skew=st.sampled_from([0, 29, 30, 45, 90, 600, 3600]) | st.integers(-3600, 3600))
    def skew_second_server(self, skew: int) -> None:
        """The second server's clock runs *skew* seconds ahead of the first (behind if negative)."""
        self.skew = float(skew)

    @rule(s=st.integers(0, 1), value=st.sampled_from(BAD_CLOCKS), call=st.sampled_from(sorted(CLOCK_CALLS)))
    def lying_clock(self, s: int, value: object, call: str) -> None:
        """A clock that returns no valid time: ConfigurationError, and nothing changed."""
        before = self.store.load(USER)
        self.lie[s] = (value,)
        try:
            with pytest.raises(ConfigurationError, match="clock"):
                CLOCK_CALLS[call](self.servers[s])
        finally:
            self.lie[s] = None
        assert self.store.load(USER) == before

    # -- invariants ----------------------------------------------------------------------

    @invariant()
    def agrees_with_the_model(self) -> None:
        """Status, recovery codes left and the wait, on both servers; the stored counters."""
        model = self.model
        for s in (0, 1):
            state = self.servers[s].state(USER)
            assert state.status is model.status
            assert state.recovery_codes_left == (len(model.unused) if model.status in LIVED else None)
            waiting = model.status in (Status.PENDING, Status.ENABLED)
            assert state.retry_after == (model.wait(self.now(s)) if waiting else 0.0)
        record = self.store.load(USER)
        stored = None if record is None else (record.failures, record.last_step, record.drift)
        assert stored == (
            None if model.status is Status.NONE else (model.failures, model.last_step, model.drift)
        )

    @invariant()
    def never_more_failures_than_the_lockout(self) -> None:
        """Failures evaluated since the last success stay within the lockout."""
        assert self.evaluated_failures <= THROTTLE.lockout


@pytest.mark.parametrize("backend", BACKENDS, indirect=True)
def test_the_service_follows_the_model(store: Store) -> None:
    """Every operation, in any order, on two servers with different clocks: model and invariants hold."""

    class OnThisStore(StateMachine):
        """The machine on the test's store."""

    OnThisStore.store = store
    run_state_machine_as_test(OnThisStore, settings=RUN)
