"""The MFA flow, written once for both faces: every method is a generator of operations.

A flow decides everything — which store operation runs, what its answer means, what is
audited, when a code is accepted — and does no I/O itself. It *yields* what it needs
done and receives the result:

- :class:`Call`: a store method (``claim = yield call(Store.claim_attempt, ...)``);
- :class:`Reserve` / :class:`Release`: a slot of the process-wide Argon2id gate
  (the answer to Reserve is ``False`` when none came free in time: BUSY);
- :class:`Compute`: CPU-heavy work (Argon2id), run where it cannot stall anyone;
- :class:`Emit`: an audit event.

:class:`~totpcore.MfaService` drives a flow with blocking calls, and
:class:`~totpcore.AsyncMfaService` with ``await`` (the pattern of psycopg's
``BaseTransaction`` and of sans-I/O libraries such as h11). A failed operation is
thrown back into the flow at its ``yield``, so error handling is written here too.
``docs/design.md`` ("One login") follows one verify through it.
"""

from __future__ import annotations

import contextlib
import functools
import math
import secrets
from collections.abc import Callable, Generator, Mapping
from dataclasses import dataclass, replace
from typing import Any, Final, NoReturn, TypeVar

from totpcore import recovery
from totpcore.errors import (
    ConfigurationError,
    EnrollmentError,
    MalformedCode,
    Outcome,
    PolicyError,
    RecordError,
    ReplayedCode,
    TotpcoreError,
    VerificationError,
)
from totpcore.hotp import Algorithm
from totpcore.sealing import KeyRing
from totpcore.secret import Secret
from totpcore.service._gate import Slot
from totpcore.service.model import (
    AuditEvent,
    Enrollment,
    EventType,
    KeyRotation,
    LoginResult,
    Method,
    MfaState,
    Policy,
    Requirement,
    check_actor,
    check_reason,
    check_user_id,
    is_unix_time,
)
from totpcore.store.base import (
    APP_COLUMNS,
    RECOVERY_COLUMNS,
    Claim,
    ClaimResult,
    Status,
    Store,
    UserRecord,
    wait_before,
)
from totpcore.totp import MAX_RESYNC_SEARCH, TOTP
from totpcore.uri import build_uri

__all__ = [
    "Call",
    "Compute",
    "Core",
    "Emit",
    "Flow",
    "Op",
    "Release",
    "Reserve",
    "Slot",
    "call",
]

T = TypeVar("T")

#: The sealing context of recovery digest *i* (binds each digest to its index).
_DIGEST_CONTEXT: Final = b"recovery-digest:"


@dataclass(frozen=True, slots=True)
class Call:
    """Run the store method *method* with these arguments; the flow receives its result."""

    method: str
    args: tuple[object, ...]
    kwargs: Mapping[str, object]


@dataclass(frozen=True, slots=True)
class Reserve:
    """Take a slot of the Argon2id gate for this flow; the flow receives whether one came in time."""


@dataclass(frozen=True, slots=True)
class Release:
    """Give the slot back early (the driver also releases it when the flow ends)."""


@dataclass(frozen=True, slots=True)
class Compute:
    """Run CPU-heavy *work* (holding a slot); the flow receives its result or its exception."""

    work: Callable[[], object]


@dataclass(frozen=True, slots=True)
class Emit:
    """Hand *event* to the audit sink."""

    event: AuditEvent


Op = Call | Reserve | Release | Compute | Emit
#: A flow yields operations, receives their results, and returns the method's result.
Flow = Generator[Op, Any, T]


def call(method: Callable[..., object], *args: object, **kwargs: object) -> Call:
    """A :class:`Call` of the :class:`~totpcore.store.Store` method *method* (named, so greppable)."""
    return Call(method.__name__, args, kwargs)


def _digest_context(index: int) -> bytes:
    return _DIGEST_CONTEXT + str(index).encode("ascii")


def _user_context(user_id: str) -> bytes:
    return user_id.encode("utf-8")


class Core:
    """The flows of one service: its policy, key ring, issuer and clock. Shared by both faces."""

    def __init__(self, *, issuer: str, keyring: KeyRing, policy: Policy, clock: Callable[[], float]) -> None:
        self.issuer = issuer
        self.keyring = keyring
        self.policy = policy
        self.clock = clock

    # -- checks --------------------------------------------------------------------

    def now(self) -> float:
        """Read the clock; refuse a time no correct server could report.

        Raises:
            ConfigurationError: not an ``int`` or ``float`` from 0 to below 2**64 Unix
                seconds (:func:`~totpcore.service.model.is_unix_time`): NaN, an infinity, a
                negative or huge number, anything else. Raised before any store call.
        """
        now = self.clock()
        if not is_unix_time(now):
            raise ConfigurationError(
                "the service clock returned something that is not a finite, non-negative Unix time; "
                "nothing was written"
            )
        return float(now)

    def _otp(self, record: UserRecord) -> TOTP:
        """The app factor of a record, or RecordError: damaged columns, a bad seal, impossible values."""
        damaged = sorted(record.damaged & APP_COLUMNS)
        if damaged:
            raise RecordError(
                f"the stored {', '.join(damaged)} of this user cannot be used (altered or corrupt)"
            )
        if not -MAX_RESYNC_SEARCH <= record.drift <= MAX_RESYNC_SEARCH:  # beyond anything resync records
            raise RecordError("the stored drift of this user cannot be used (altered or corrupt)")
        raw = self.keyring.unseal(record.sealed_secret, user_id=record.user_id)
        try:
            return TOTP(
                Secret(raw), digits=record.digits, period=record.period, algorithm=Algorithm[record.algorithm]
            )
        except (KeyError, TypeError, TotpcoreError):
            raise RecordError(
                "the stored secret, digits, period or algorithm of this user are not ones totpcore issues"
            ) from None

    def _recovery_set(self, record: UserRecord, *, unsealed: bool = False) -> tuple[str, dict[int, bytes]]:
        """The parameter string and unsealed digests of a record's recovery set, or RecordError.

        A set stored before digests were sealed (scheme rc1) is refused unless *unsealed*
        (key rotation, which seals it) or ``Policy.accept_unsealed_recovery`` allow it:
        anyone who can write the tables could store such a set with codes of their own.
        """
        damaged = sorted(record.damaged & RECOVERY_COLUMNS)
        if damaged or record.recovery_params is None:
            raise RecordError("the stored recovery codes of this user cannot be used (altered or corrupt)")
        params = record.recovery_params
        try:
            shape = recovery.CodeSetParams.parse(params)
            if not (shape.sealed or unsealed or self.policy.accept_unsealed_recovery):
                raise RecordError(
                    "this user's recovery codes are stored unsealed (written before digests were sealed): "
                    "run rotate_keys() (totpcore admin rotate-keys) to seal them"
                )
            digests = {
                index: (
                    self.keyring.unseal(blob, user_id=record.user_id, context=_digest_context(index))
                    if shape.sealed
                    else blob
                )
                for index, blob in record.recovery
            }
            recovery.check_stored(params, digests.items())
        except (TypeError, ConfigurationError):
            raise RecordError(
                "the stored recovery codes of this user cannot be used (altered or corrupt)"
            ) from None
        return params, digests

    # -- state ---------------------------------------------------------------------

    def state(self, user_id: str) -> Flow[MfaState]:
        """Status, login requirement, enabled time, usable recovery codes and wait of one user."""
        user_id = check_user_id(user_id)
        now = self.now()
        record: UserRecord | None = yield call(Store.load, user_id)
        status = Status.NONE if record is None else record.status
        enabled = status in (Status.ENABLED, Status.LOCKED)
        left = None
        if record is not None and enabled:
            left = self._usable_recovery_codes(record)
        retry = 0.0
        if record is not None and status is not Status.LOCKED:
            retry = wait_before(record, now=now, throttle=self.policy.throttle)
        return MfaState(
            status=status,
            requirement=self._requirement(status, now),
            enabled_at=record.enabled_at if record is not None and enabled else None,
            recovery_codes_left=left,
            retry_after=retry,
        )

    def _usable_recovery_codes(self, record: UserRecord) -> int:
        """How many stored recovery codes can work: 0 when the set cannot be read."""
        try:
            return len(self._recovery_set(record)[1])
        except RecordError:
            return 0

    def _requirement(self, status: Status, now: float) -> Requirement:
        if status is Status.ENABLED:
            return Requirement.CODE
        if status is Status.LOCKED:
            return Requirement.SUPPORT
        return Requirement.ENROLL if self.policy.mandatory_at(now) else Requirement.NONE

    # -- enrolment -----------------------------------------------------------------

    def begin_enrollment(self, user_id: str, account: str) -> Flow[Enrollment]:
        """Issue a fresh pending secret (a new enrolment id) and return what the user scans."""
        user_id = check_user_id(user_id)
        now = self.now()
        policy = self.policy
        # RFC 6238 §5.1: keys SHOULD be of the length of the HMAC output (20, 32 or 64 bytes).
        secret = Secret.generate(policy.algorithm.digest_size)
        otp = TOTP(secret, digits=policy.digits, period=policy.period, algorithm=policy.algorithm)
        uri = build_uri(otp, account=account, issuer=self.issuer)  # validates *account* first
        began = yield call(
            Store.begin,
            user_id,
            enrollment_id=secrets.token_hex(16),
            sealed_secret=self.keyring.seal(bytes(secret), user_id=user_id),
            key_id=self.keyring.current,
            digits=policy.digits,
            period=policy.period,
            algorithm=policy.algorithm.name,
            now=now,
        )
        if not began:
            yield call(Store.load, user_id)  # a row too damaged to read is a RecordError, not "enabled"
            raise EnrollmentError(
                "MFA is already enabled for this user; only a support reset allows enrolling again"
            )
        yield self._emit(EventType.ENROLLMENT_STARTED, user_id, now)
        return Enrollment(uri=uri, secret_base32=secret.to_base32())

    def confirm_enrollment(self, user_id: str, code: str) -> Flow[list[str]]:
        """Confirm the pending secret with an app code; store the hashed recovery set; return the codes."""
        user_id = check_user_id(user_id)
        now = self.now()
        if not (yield Reserve()):
            yield self._emit(EventType.ENROLLMENT_FAILED, user_id, now, outcome=Outcome.BUSY)
            raise self._busy()
        otps: list[TOTP] = []
        claim: Claim = yield call(
            Store.claim_attempt,
            user_id,
            status=Status.PENDING,
            now=now,
            throttle=self.policy.throttle,
            check=lambda record: otps.append(self._otp(record)),
        )
        if claim.result is ClaimResult.NOT_ENROLLED:
            raise EnrollmentError("there is no pending enrolment to confirm for this user; begin one first")
        if claim.result is not ClaimResult.CLAIMED or claim.record is None:
            outcome = Outcome.LOCKED if claim.result is ClaimResult.LOCKED else Outcome.THROTTLED
            yield self._emit(EventType.ENROLLMENT_FAILED, user_id, now, outcome=outcome)
            if outcome is Outcome.LOCKED:
                raise PolicyError("too many attempts on this enrolment; begin it again", outcome=outcome)
            raise self._throttled(claim.retry_after)
        record = claim.record
        try:
            match = otps[-1].verify(code, at=now, window=self.policy.window)
        except VerificationError as error:
            yield self._emit(
                EventType.ENROLLMENT_FAILED, user_id, now, outcome=_outcome_of(error), method=Method.TOTP
            )
            raise
        codes, params, digests = yield from self._new_recovery_set(user_id)
        activated = yield call(
            Store.activate,
            user_id,
            enrollment_id=record.enrollment_id,
            step=match.step,
            recovery_params=params,
            digests=digests,
            now=now,
        )
        if not activated:
            yield self._emit(EventType.ENROLLMENT_FAILED, user_id, now, method=Method.TOTP)
            raise EnrollmentError(
                "the pending enrolment changed meanwhile (another session began one, or support reset it); "
                "start again"
            )
        yield self._emit(
            EventType.ENROLLMENT_CONFIRMED, user_id, now, offset=match.offset, recovery_codes_left=len(codes)
        )
        return codes

    def _new_recovery_set(self, user_id: str) -> Flow[tuple[list[str], str, list[bytes]]]:
        """Generate a set, hash it under the reserved slot, seal each digest: codes, params, digests."""
        policy = self.policy
        codes = recovery.generate_codes(policy.recovery_count, policy.recovery_bits)
        hashed: recovery.HashedCodes = yield Compute(
            functools.partial(
                recovery.hash_codes,
                codes,
                params=policy.recovery_kdf,
                context=_user_context(user_id),
                sealed=True,
            )
        )
        yield Release()
        sealed = [
            self.keyring.seal(digest, user_id=user_id, context=_digest_context(index))
            for index, digest in enumerate(hashed.digests)
        ]
        return codes, hashed.params, sealed

    # -- login ---------------------------------------------------------------------

    def verify(self, user_id: str, code: str) -> Flow[LoginResult]:  # noqa: PLR0911 - one exit per outcome
        """An app code or a recovery code: throttle, evaluate, accept once, audit."""
        user_id = check_user_id(user_id)
        now = self.now()
        if _looks_like_app_code(code):
            return (yield from self._app_login(user_id, code, now))
        if not recovery.is_well_formed(code):
            # Not worth an Argon2id evaluation; counted like every attempt.
            return (yield from self._refuse_malformed(EventType.LOGIN, user_id, now, Method.RECOVERY))
        if not (yield Reserve()):
            busy = LoginResult(Outcome.BUSY, retry_after=float(self.policy.kdf_wait))
            return (yield from self._result(EventType.LOGIN, user_id, now, busy))
        stored: list[tuple[str, dict[int, bytes]]] = []
        claimed = yield from self._claim(
            EventType.LOGIN, user_id, now, lambda record: stored.append(self._recovery_set(record))
        )
        if isinstance(claimed, LoginResult):
            return claimed
        params, digests = stored[-1]
        try:
            found: recovery.RecoveryMatch = yield Compute(
                functools.partial(
                    recovery.match_code, code, params, digests.items(), context=_user_context(user_id)
                )
            )
        except VerificationError as error:
            yield Release()
            return (yield from self._failed(EventType.LOGIN, claimed, error, Method.RECOVERY, now))
        yield Release()
        left = yield call(
            Store.consume_recovery,
            user_id,
            enrollment_id=claimed.enrollment_id,
            index=found.index,
            digest=dict(claimed.recovery)[found.index],
            now=now,
        )
        if left is None:
            return (
                yield from self._failed(
                    EventType.LOGIN, claimed, ReplayedCode(found.index), Method.RECOVERY, now
                )
            )
        yield from self._seal_unsealed_recovery(claimed, now)
        accepted = LoginResult(Outcome.ACCEPTED, Method.RECOVERY, recovery_codes_left=left)
        return (yield from self._result(EventType.LOGIN, user_id, now, accepted))

    def _app_login(self, user_id: str, code: str, now: float) -> Flow[LoginResult]:
        otps: list[TOTP] = []
        claimed = yield from self._claim(
            EventType.LOGIN, user_id, now, lambda record: otps.append(self._otp(record))
        )
        if isinstance(claimed, LoginResult):
            return claimed
        try:
            offset = yield from self._accept_app_code(claimed, otps[-1], code, now)
        except VerificationError as error:
            return (yield from self._failed(EventType.LOGIN, claimed, error, Method.TOTP, now))
        yield from self._seal_unsealed_recovery(claimed, now)
        accepted = LoginResult(Outcome.ACCEPTED, Method.TOTP)
        return (yield from self._result(EventType.LOGIN, user_id, now, accepted, offset=offset))

    def resync(self, user_id: str, codes: object) -> Flow[LoginResult]:
        """Two or more consecutive app codes, searched widely; the drift becomes the phone's offset."""
        user_id = check_user_id(user_id)
        now = self.now()
        otps: list[TOTP] = []
        claimed = yield from self._claim(
            EventType.RESYNC, user_id, now, lambda record: otps.append(self._otp(record))
        )
        if isinstance(claimed, LoginResult):
            return claimed
        try:
            match = otps[-1].resync(
                codes,  # type: ignore[arg-type]  # anything else is MalformedCode, refused before any work
                at=now,
                search=self.policy.resync_search,
                last_step=claimed.last_step,
            )
        except VerificationError as error:
            return (yield from self._failed(EventType.RESYNC, claimed, error, Method.TOTP, now))
        accepted = yield call(
            Store.accept_step,
            user_id,
            enrollment_id=claimed.enrollment_id,
            step=match.step,
            drift=match.offset,
            now=now,
        )
        if not accepted:
            return (
                yield from self._failed(EventType.RESYNC, claimed, ReplayedCode(match.step), Method.TOTP, now)
            )
        result = LoginResult(Outcome.ACCEPTED, Method.TOTP)
        return (yield from self._result(EventType.RESYNC, user_id, now, result, offset=match.offset))

    def regenerate_recovery_codes(self, user_id: str, code: str) -> Flow[list[str]]:
        """Replace the recovery set after a valid app code; return the new codes."""
        user_id = check_user_id(user_id)
        now = self.now()
        if not (yield Reserve()):
            yield self._emit(EventType.RECOVERY_CODES_REGENERATED, user_id, now, outcome=Outcome.BUSY)
            raise self._busy()
        otps: list[TOTP] = []
        claimed = yield from self._claim(
            EventType.LOGIN, user_id, now, lambda record: otps.append(self._otp(record))
        )
        if isinstance(claimed, LoginResult):
            if claimed.outcome is Outcome.NOT_ENROLLED:
                raise EnrollmentError("MFA is not enabled for this user")
            if claimed.outcome is Outcome.LOCKED:
                raise PolicyError(
                    "locked after too many failed attempts; a support reset is needed", outcome=Outcome.LOCKED
                )
            raise self._throttled(claimed.retry_after)
        try:
            offset = yield from self._accept_app_code(claimed, otps[-1], code, now)
        except VerificationError as error:
            yield from self._failed(EventType.LOGIN, claimed, error, Method.TOTP, now)
            raise
        yield from self._result(
            EventType.LOGIN, user_id, now, LoginResult(Outcome.ACCEPTED, Method.TOTP), offset=offset
        )
        codes, params, digests = yield from self._new_recovery_set(user_id)
        replaced = yield call(
            Store.replace_recovery,
            user_id,
            enrollment_id=claimed.enrollment_id,
            recovery_params=params,
            digests=digests,
            now=now,
        )
        if not replaced:
            # The enrolment whose code was accepted is gone (reset, maybe re-enrolled): audited.
            yield self._emit(EventType.RECOVERY_CODES_REGENERATED, user_id, now, outcome=Outcome.NOT_ENROLLED)
            raise EnrollmentError(
                "MFA is not enabled for this user any more (reset meanwhile); nothing was replaced"
            )
        yield self._emit(EventType.RECOVERY_CODES_REGENERATED, user_id, now, recovery_codes_left=len(codes))
        return codes

    # -- support -------------------------------------------------------------------

    def reset(self, user_id: str, actor: str, reason: str) -> Flow[None]:
        """Audit, then wipe: a sink that refuses the event stops the reset before anything changes."""
        user_id = check_user_id(user_id)
        actor = check_actor(actor)
        reason = check_reason(reason)
        now = self.now()
        try:
            existed = (yield call(Store.load, user_id)) is not None
        except RecordError:
            existed = True  # a row too damaged to read is exactly what a reset is for
        outcome = None if existed else Outcome.NOT_ENROLLED
        yield self._emit(EventType.RESET, user_id, now, outcome=outcome, actor=actor, reason=reason)
        yield call(Store.reset, user_id)

    def disable(self, user_id: str) -> Flow[NoReturn]:
        """Audit the refusal and raise: MFA cannot be disabled."""
        user_id = check_user_id(user_id)
        yield self._emit(EventType.DISABLE_REFUSED, user_id, self.now())
        raise PolicyError("MFA cannot be disabled; support can reset it, which requires enrolling again")

    def rotate_keys(self) -> Flow[KeyRotation]:
        """Re-seal every stale user under the current key; skip (and report) rows that cannot be."""
        now = self.now()
        resealed = 0
        skipped: list[str] = []
        for user_id in (yield call(Store.stale_keys, self.keyring.current)):
            try:
                record = yield call(Store.load, user_id)
                changed = record is not None and (yield from self._reseal(record, now))
            except RecordError:
                skipped.append(user_id)
                continue
            if changed:
                resealed += 1
                yield self._emit(EventType.KEY_ROTATED, user_id, now)
        return KeyRotation(resealed, tuple(skipped))

    def _reseal(self, record: UserRecord, now: float) -> Flow[bool]:
        """Everything of one user under the current key: recovery digests first, the secret (and key_id) last.

        Both new values are computed before anything is written, so a row that cannot be
        re-sealed is left exactly as it was (RecordError). A crash in between leaves
        ``key_id`` old, so the next rotation finds the user again.
        """
        keyring = self.keyring
        self._otp(record)  # an app factor that cannot be used: RecordError, the user is skipped
        secret = None
        if keyring.needs_reseal(record.sealed_secret):
            secret = keyring.reseal(record.sealed_secret, user_id=record.user_id)
        # Enabled or locked users always have a recovery set: one that cannot be read is skipped.
        changed = record.status is not Status.PENDING and (yield from self._recovery_swap(record, now))
        if secret is not None:
            resealed = yield call(
                Store.reseal,
                record.user_id,
                old=record.sealed_secret,
                new=secret,
                key_id=keyring.current,
                now=now,
            )
            changed = changed or bool(resealed)
        return changed

    def _recovery_swap(self, record: UserRecord, now: float) -> Flow[bool]:
        """Put the record's recovery set under the current key, sealing it if it is unsealed.

        Returns whether the store changed anything; ``False`` without a store call when the
        set is sealed under the current key already.

        Raises:
            RecordError: the set cannot be read (nothing written).
        """
        params, digests = self._recovery_set(record, unsealed=True)
        shape = recovery.CodeSetParams.parse(params)
        stored = dict(record.recovery)
        if shape.sealed and not any(self.keyring.needs_reseal(blob) for blob in stored.values()):
            return False
        fresh = [
            (
                index,
                stored[index],
                self.keyring.seal(digest, user_id=record.user_id, context=_digest_context(index)),
            )
            for index, digest in sorted(digests.items())
        ]
        new_params = replace(shape, sealed=True).encode()
        swapped = yield call(
            Store.reseal_recovery,
            record.user_id,
            old_params=params,
            new_params=new_params,
            digests=fresh,
            now=now,
        )
        return bool(swapped)

    def _seal_unsealed_recovery(self, record: UserRecord, now: float) -> Flow[None]:
        """After a success, while ``Policy.accept_unsealed_recovery`` holds: seal a set stored unsealed.

        Without that switch an unsealed set is refused, and a login must not seal it either:
        it may have been planted.
        """
        params = record.recovery_params
        if (
            not self.policy.accept_unsealed_recovery
            or params is None
            or record.damaged
            or not params.startswith(recovery.UNSEALED_PREFIX)
        ):
            return
        with contextlib.suppress(RecordError):  # refused when used; never fail a success here
            yield from self._recovery_swap(record, now)

    # -- shared steps --------------------------------------------------------------

    def _claim(
        self, event: EventType, user_id: str, now: float, check: Callable[[UserRecord], None] | None
    ) -> Flow[UserRecord | LoginResult]:
        """Count the attempt in the store; return the claimed record, or the refusal (audited)."""
        claim: Claim = yield call(
            Store.claim_attempt,
            user_id,
            status=Status.ENABLED,
            now=now,
            throttle=self.policy.throttle,
            check=check,
        )
        if claim.result is ClaimResult.CLAIMED and claim.record is not None:
            return claim.record
        if claim.result is ClaimResult.LOCKED:
            refused = LoginResult(Outcome.LOCKED)
        elif claim.result is ClaimResult.THROTTLED:
            refused = LoginResult(Outcome.THROTTLED, retry_after=claim.retry_after)
        else:
            refused = LoginResult(Outcome.NOT_ENROLLED)
        return (yield from self._result(event, user_id, now, refused))

    def _refuse_malformed(
        self, event: EventType, user_id: str, now: float, method: Method
    ) -> Flow[LoginResult]:
        claimed = yield from self._claim(event, user_id, now, None)
        if isinstance(claimed, LoginResult):
            return claimed
        return (yield from self._failed(event, claimed, MalformedCode("not a code"), method, now))

    def _accept_app_code(self, record: UserRecord, otp: TOTP, code: str, now: float) -> Flow[int]:
        """Verify an app code and record its step atomically; return the offset.

        Raises:
            MalformedCode, InvalidCode, ReplayedCode: not accepted (ReplayedCode also when a
                concurrent request recorded this step first, or the enrolment was reset).
        """
        match = otp.verify(
            code, at=now, window=self.policy.window, drift=record.drift, last_step=record.last_step
        )
        # Ordinary logins never push |drift| beyond the policy bound, or beyond what an
        # explicit resync established: accepted codes cannot walk the window away.
        bound = max(self.policy.max_drift, abs(record.drift))
        drift = max(-bound, min(bound, match.offset))
        accepted = yield call(
            Store.accept_step,
            record.user_id,
            enrollment_id=record.enrollment_id,
            step=match.step,
            drift=drift,
            now=now,
        )
        if not accepted:
            raise ReplayedCode(match.step)
        return match.offset

    def _failed(
        self, event: EventType, record: UserRecord, error: Exception, method: Method, now: float
    ) -> Flow[LoginResult]:
        outcome = _outcome_of(error)
        locked = yield call(
            Store.lock_if_exhausted,
            record.user_id,
            enrollment_id=record.enrollment_id,
            throttle=self.policy.throttle,
            now=now,
        )
        if locked:
            outcome = Outcome.LOCKED  # this failure reached the lockout ceiling
        return (yield from self._result(event, record.user_id, now, LoginResult(outcome, method)))

    def _result(
        self, event: EventType, user_id: str, now: float, result: LoginResult, *, offset: int | None = None
    ) -> Flow[LoginResult]:
        yield self._emit(
            event,
            user_id,
            now,
            outcome=result.outcome,
            method=result.method,
            offset=offset,
            recovery_codes_left=result.recovery_codes_left,
        )
        return result

    def _emit(self, event: EventType, user_id: str, now: float, **fields: Any) -> Emit:  # noqa: ANN401
        return Emit(AuditEvent(event, user_id, now, **fields))

    def _throttled(self, retry_after: float) -> PolicyError:
        return PolicyError(
            f"too many attempts; retry in {math.ceil(retry_after)} s",
            outcome=Outcome.THROTTLED,
            retry_after=retry_after,
        )

    def _busy(self) -> PolicyError:
        wait = float(self.policy.kdf_wait)
        return PolicyError(
            "the server is busy checking recovery codes; retry shortly",
            outcome=Outcome.BUSY,
            retry_after=wait,
        )


def _looks_like_app_code(code: object) -> bool:
    """Whether *code* is meant as an app code (ASCII digits only) rather than a recovery code."""
    if not isinstance(code, str):
        return True  # not text at all: the app-code parser reports it as malformed
    compact = code.replace(" ", "")
    return compact.isascii() and compact.isdigit()


def _outcome_of(error: Exception) -> Outcome:
    if isinstance(error, ReplayedCode):
        return Outcome.REPLAYED
    if isinstance(error, MalformedCode):
        return Outcome.MALFORMED
    return Outcome.INVALID
