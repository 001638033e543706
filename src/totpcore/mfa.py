"""MfaService: enrolment, login, recovery, drift, throttling and support reset (DESIGN.md §1, §5).

The service composes the pure layers (TOTP verification, recovery codes, throttling
policy, sealing) with a :class:`~totpcore.store.Store`. Every state change it relies on
is one atomic store operation, so two app servers handling the same user at the same
moment cannot both accept one code, both use one recovery code, or slip past the
throttle together.
"""

from __future__ import annotations

import enum
import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Final, NoReturn

from totpcore import recovery
from totpcore._checks import check_int
from totpcore.errors import (
    ConfigurationError,
    EnrollmentError,
    MalformedCode,
    PolicyError,
    ReplayedCode,
    VerificationError,
)
from totpcore.hotp import Algorithm
from totpcore.sealing import KeyRing
from totpcore.secret import Secret
from totpcore.store.base import Claim, ClaimResult, Status, Store, UserRecord
from totpcore.throttle import Throttle
from totpcore.totp import DEFAULT_WINDOW, MAX_PERIOD, MAX_RESYNC_SEARCH, TOTP
from totpcore.uri import build_uri
from totpcore.verify import MAX_WINDOW, Window

__all__ = [
    "AuditEvent",
    "Enrollment",
    "EventType",
    "LoginResult",
    "Method",
    "MfaService",
    "Outcome",
    "Policy",
]

AUDIT_LOGGER: Final = "totpcore.audit"
DEFAULT_THROTTLE: Final = Throttle()


class Outcome(enum.Enum):
    """What happened to one login attempt. Show the end user one generic message for all but ACCEPTED."""

    ACCEPTED = "accepted"
    INVALID = "invalid"  # well formed, wrong
    MALFORMED = "malformed"  # neither an app code nor a recovery code
    REPLAYED = "replayed"  # an app code for a step already accepted, or a recovery code a
    # concurrent request consumed first (a recovery code used earlier is simply INVALID:
    # used codes are deleted, so they match nothing)
    THROTTLED = "throttled"  # too soon after failures: retry_after says when
    LOCKED = "locked"  # too many consecutive failures: a support reset is needed
    NOT_ENROLLED = "not_enrolled"  # no confirmed MFA for this user


class Method(enum.Enum):
    """Which factor an attempt was evaluated as."""

    TOTP = "totp"
    RECOVERY = "recovery"


@dataclass(frozen=True, slots=True)
class LoginResult:
    """The result of :meth:`MfaService.verify` or :meth:`MfaService.resync`.

    Attributes:
        outcome: what happened (for the application and the audit log).
        method: TOTP or RECOVERY, when the input was evaluated as one of them.
        retry_after: seconds before the next attempt is allowed (THROTTLED).
        recovery_codes_left: unused recovery codes after a successful recovery login.
    """

    outcome: Outcome
    method: Method | None = None
    retry_after: float = 0.0
    recovery_codes_left: int | None = None

    @property
    def ok(self) -> bool:
        """Whether the second factor was accepted."""
        return self.outcome is Outcome.ACCEPTED


@dataclass(frozen=True, slots=True)
class Enrollment:
    """What to show a user who starts enrolment: the QR code and the secret for manual entry.

    Both are secret until the user has scanned them: send them to the user's browser
    only, over TLS, and never log them (``repr`` hides them).
    """

    uri: str = field(repr=False)
    secret_base32: str = field(repr=False)

    def qr_svg(self) -> str:
        """Return the ``otpauth://`` URI as an SVG QR code (needs the ``qr`` extra)."""
        from totpcore import qr  # noqa: PLC0415  # optional extra, imported on use

        return qr.svg(self.uri)


class EventType(enum.Enum):
    """The kinds of audit event."""

    ENROLLMENT_STARTED = "enrollment_started"
    ENROLLMENT_CONFIRMED = "enrollment_confirmed"
    ENROLLMENT_FAILED = "enrollment_failed"
    LOGIN = "login"
    RESYNC = "resync"
    RECOVERY_CODES_REGENERATED = "recovery_codes_regenerated"
    RESET = "reset"
    DISABLE_REFUSED = "disable_refused"
    KEY_ROTATED = "key_rotated"


@dataclass(frozen=True, slots=True)
class AuditEvent:
    """One audit record. Never holds a code, a recovery code, a secret or a URI."""

    type: EventType
    user_id: str
    at: float
    outcome: Outcome | None = None
    method: Method | None = None
    offset: int | None = None
    recovery_codes_left: int | None = None
    actor: str | None = None
    reason: str | None = None

    def describe(self) -> str:
        """One line, ``type user=... outcome=...``, listing the fields that are set."""
        fields = [f"user={self.user_id}"]
        for name in ("outcome", "method", "offset", "recovery_codes_left", "actor", "reason"):
            value = getattr(self, name)
            if value is not None:
                fields.append(f"{name}={value.value if isinstance(value, enum.Enum) else value}")
        return f"{self.type.value} {' '.join(fields)}"


@dataclass(frozen=True, slots=True)
class Policy:
    """The service's rules, validated at construction.

    Attributes:
        window: steps accepted behind and ahead of the expected step (each <= 10).
        max_drift: bound, in steps, on the drift learned from ordinary logins.
        resync_search: steps searched either side of now by :meth:`MfaService.resync`.
        digits, period, algorithm: parameters of newly issued secrets.
        recovery_count, recovery_bits: size of a recovery set and entropy per code.
        recovery_kdf: Argon2id parameters hashing recovery codes.
        throttle: free attempts, growing delay and lockout ceiling (<= 100).

    Raises:
        TypeError, ConfigurationError: any field out of range.
    """

    window: Window = DEFAULT_WINDOW
    max_drift: int = 2
    resync_search: int = 2880
    digits: int = 6
    period: int = 30
    algorithm: Algorithm = Algorithm.SHA1
    recovery_count: int = 5
    recovery_bits: int = 80
    recovery_kdf: recovery.Argon2Params = recovery.DEFAULT_PARAMS
    throttle: Throttle = DEFAULT_THROTTLE

    def __post_init__(self) -> None:
        if type(self.window) is not Window:
            raise TypeError("window must be a totpcore.Window")
        check_int("max_drift", self.max_drift, 0, MAX_WINDOW)
        check_int("resync_search", self.resync_search, 1, MAX_RESYNC_SEARCH)
        check_int("digits", self.digits, 6, 8)
        check_int("period", self.period, 1, MAX_PERIOD)
        if type(self.algorithm) is not Algorithm:
            raise TypeError("algorithm must be a totpcore.Algorithm")
        check_int("recovery_count", self.recovery_count, 1, recovery.MAX_COUNT)
        check_int("recovery_bits", self.recovery_bits, recovery.MIN_BITS, recovery.MAX_BITS)
        if type(self.recovery_kdf) is not recovery.Argon2Params:
            raise TypeError("recovery_kdf must be totpcore.recovery.Argon2Params")
        if type(self.throttle) is not Throttle:
            raise TypeError("throttle must be a totpcore.Throttle")


class MfaService:
    """The MFA flow for one application, over one store.

    Args:
        store: where state lives (``MemoryStore``, ``SQLiteStore``, ``PostgresStore``).
        issuer: the name authenticator apps show, e.g. ``"Outsmart EMR"``.
        keyring: seals secrets at rest (:class:`~totpcore.sealing.KeyRing`).
        policy: window, drift, throttling and recovery-code rules.
        clock: returns Unix seconds; injected so tests (and replays of logs) control time.
        audit: receives one :class:`AuditEvent` per attempt and per state change;
            default: the ``totpcore.audit`` logger at INFO. If it raises, the exception
            propagates (fail closed).

    Raises:
        TypeError, ConfigurationError: bad arguments.
    """

    def __init__(
        self,
        store: Store,
        *,
        issuer: str,
        keyring: KeyRing,
        policy: Policy | None = None,
        clock: Callable[[], float] = time.time,
        audit: Callable[[AuditEvent], None] | None = None,
    ) -> None:
        if not isinstance(issuer, str) or not issuer:
            raise ConfigurationError("issuer must be a non-empty str")
        if not isinstance(keyring, KeyRing):
            raise TypeError("keyring must be a totpcore.sealing.KeyRing")
        self._store = store
        self._issuer = issuer
        self._keyring = keyring
        self._policy = policy if policy is not None else Policy()
        if type(self._policy) is not Policy:
            raise TypeError("policy must be a totpcore.Policy")
        self._clock = clock
        self._audit = audit if audit is not None else _log_event

    @property
    def policy(self) -> Policy:
        """The rules in force."""
        return self._policy

    # -- state -------------------------------------------------------------------------

    def status(self, user_id: str) -> Status:
        """Return NONE, PENDING, ENABLED or LOCKED.

        Raises:
            StoreError: the store failed.
        """
        record = self._store.load(_user(user_id))
        return Status.NONE if record is None else record.status

    # -- enrolment ---------------------------------------------------------------------

    def begin_enrollment(self, user_id: str, *, account: str) -> Enrollment:
        """Issue a fresh pending secret and return what the user scans.

        Each call replaces a previous pending secret (the last QR code shown wins). A
        user with MFA enabled or locked cannot begin again without a support reset.

        Args:
            user_id: the application's stable user id (bound into the sealed secret).
            account: the name the authenticator app shows, e.g. an e-mail address.

        Raises:
            EnrollmentError: MFA is already enabled (or locked) for this user.
            UriError: *account* cannot be put in a URI (it contains a colon).
            StoreError: the store failed.
        """
        user_id = _user(user_id)
        policy = self._policy
        # RFC 6238 §5.1: keys SHOULD be of the length of the HMAC output (20, 32 or 64 bytes).
        secret = Secret.generate(policy.algorithm.digest_size)
        otp = TOTP(secret, digits=policy.digits, period=policy.period, algorithm=policy.algorithm)
        uri = build_uri(otp, account=account, issuer=self._issuer)  # validates *account* first
        began = self._store.begin(
            user_id,
            sealed_secret=self._keyring.seal(bytes(secret), user_id=user_id),
            key_id=self._keyring.current,
            digits=policy.digits,
            period=policy.period,
            algorithm=policy.algorithm.name,
            now=self._clock(),
        )
        if not began:
            raise EnrollmentError(
                "MFA is already enabled for this user; only a support reset allows enrolling again"
            )
        self._emit(EventType.ENROLLMENT_STARTED, user_id)
        return Enrollment(uri=uri, secret_base32=secret.to_base32())

    def confirm_enrollment(self, user_id: str, code: str) -> list[str]:
        """Confirm the pending secret with a code from the app; return the recovery codes.

        The confirming step is consumed: the same code cannot be used for the first login.
        The recovery codes are returned in plain text this once; only hashes are kept.

        Raises:
            EnrollmentError: no pending enrolment, or it changed meanwhile (start again).
            MalformedCode, InvalidCode: the code is not accepted (the attempt is counted).
            PolicyError: too many attempts; wait and retry (``retry_after`` in the message).
            StoreError: the store failed.
        """
        user_id = _user(user_id)
        now = self._clock()
        record = self._store.load(user_id)
        if record is None or record.status is not Status.PENDING:
            raise EnrollmentError("there is no pending enrolment to confirm for this user; begin one first")
        claim = self._store.claim_attempt(user_id, now=now, throttle=self._policy.throttle)
        if claim.result is ClaimResult.THROTTLED:
            self._emit(EventType.ENROLLMENT_FAILED, user_id, outcome=Outcome.THROTTLED)
            raise PolicyError(f"too many attempts; retry in {claim.retry_after:.0f} s")
        record = _claimed(claim, Status.PENDING)
        try:
            match = self._otp(record).verify(code, at=now, window=self._policy.window)
        except VerificationError as error:
            self._emit(EventType.ENROLLMENT_FAILED, user_id, outcome=_outcome_of(error), method=Method.TOTP)
            raise
        codes = recovery.generate_codes(self._policy.recovery_count, self._policy.recovery_bits)
        hashed = recovery.hash_codes(codes, params=self._policy.recovery_kdf, context=_context(user_id))
        if not self._store.activate(
            user_id,
            sealed_secret=record.sealed_secret,
            step=match.step,
            recovery_params=hashed.params,
            digests=hashed.digests,
            now=now,
        ):
            self._emit(EventType.ENROLLMENT_FAILED, user_id, method=Method.TOTP)
            raise EnrollmentError(
                "the pending enrolment changed meanwhile (another session began one); start again"
            )
        self._emit(
            EventType.ENROLLMENT_CONFIRMED, user_id, offset=match.offset, recovery_codes_left=len(codes)
        )
        return codes

    # -- login -------------------------------------------------------------------------

    def verify(self, user_id: str, code: str) -> LoginResult:
        """Check the second factor: a code from the app **or** one recovery code.

        The attempt is counted against the user's throttle before anything is evaluated
        (so before any KDF runs), and cleared on success. An app code is accepted once
        (replay protection on the matched step); the drift it shows is learned within
        ``policy.max_drift``. A recovery code works once. Every attempt counts, even a
        malformed one.

        Raises:
            StoreError: the store failed; deny the login (fail closed).
        """
        user_id = _user(user_id)
        now = self._clock()
        record = self._claim(EventType.LOGIN, user_id, now)
        if isinstance(record, LoginResult):
            return record
        method = Method.TOTP if _looks_like_app_code(code) else Method.RECOVERY
        try:
            if method is Method.TOTP:
                offset, left = self._accept_app_code(record, code, now), None
            else:
                offset, left = None, self._accept_recovery_code(record, code, now)
        except VerificationError as error:
            return self._failed(EventType.LOGIN, user_id, error, method, now)
        result = LoginResult(Outcome.ACCEPTED, method, recovery_codes_left=left)
        return self._login_result(EventType.LOGIN, user_id, result, offset)

    def resync(self, user_id: str, codes: Iterable[str]) -> LoginResult:
        """Log in with two or more consecutive app codes from a phone whose clock is far off.

        Searches ``policy.resync_search`` steps either side of now; on success the
        drift becomes the phone's offset (beyond ``max_drift``: this is the explicit
        resynchronisation RFC 6238 §6 calls for) and the user is logged in.

        Raises:
            StoreError: the store failed; deny the login.
        """
        user_id = _user(user_id)
        now = self._clock()
        record = self._claim(EventType.RESYNC, user_id, now)
        if isinstance(record, LoginResult):
            return record
        try:
            match = self._otp(record).resync(
                codes, at=now, search=self._policy.resync_search, last_step=record.last_step
            )
        except VerificationError as error:
            return self._failed(EventType.RESYNC, user_id, error, Method.TOTP, now)
        if not self._store.accept_step(user_id, step=match.step, drift=match.offset, now=now):
            return self._failed(EventType.RESYNC, user_id, ReplayedCode(match.step), Method.TOTP, now)
        return self._login_result(
            EventType.RESYNC, user_id, LoginResult(Outcome.ACCEPTED, Method.TOTP), match.offset
        )

    def regenerate_recovery_codes(self, user_id: str, code: str) -> list[str]:
        """Replace the whole recovery set, after a valid **app** code; return the new codes.

        The old codes stop working at once. A recovery code cannot authorise this.

        Raises:
            MalformedCode, InvalidCode, ReplayedCode: the app code was not accepted (the
                attempt counts against the throttle like a login).
            PolicyError: throttled or locked.
            EnrollmentError: MFA is not enabled for this user.
            StoreError: the store failed.
        """
        user_id = _user(user_id)
        now = self._clock()
        record = self._claim(EventType.LOGIN, user_id, now)
        if isinstance(record, LoginResult):
            if record.outcome is Outcome.NOT_ENROLLED:
                raise EnrollmentError("MFA is not enabled for this user")
            raise PolicyError(
                f"attempt refused ({record.outcome.value}); retry in {record.retry_after:.0f} s"
            )
        try:
            offset = self._accept_app_code(record, code, now)
        except VerificationError as error:
            self._failed(EventType.LOGIN, user_id, error, Method.TOTP, now)
            raise
        self._login_result(EventType.LOGIN, user_id, LoginResult(Outcome.ACCEPTED, Method.TOTP), offset)
        codes = recovery.generate_codes(self._policy.recovery_count, self._policy.recovery_bits)
        hashed = recovery.hash_codes(codes, params=self._policy.recovery_kdf, context=_context(user_id))
        if not self._store.replace_recovery(
            user_id, recovery_params=hashed.params, digests=hashed.digests, now=now
        ):
            raise EnrollmentError("MFA is not enabled for this user")
        self._emit(EventType.RECOVERY_CODES_REGENERATED, user_id, recovery_codes_left=len(codes))
        return codes

    # -- support -----------------------------------------------------------------------

    def reset(self, user_id: str, *, actor: str, reason: str) -> None:
        """Support action: wipe the user's MFA state; the user must enrol again.

        Verify the user's identity out of band first (OWASP ASVS 2.5.7): this bypasses
        the second factor by design. *actor* and *reason* go to the audit log.

        Raises:
            ConfigurationError: *actor* or *reason* is empty.
            StoreError: the store failed.
        """
        user_id = _user(user_id)
        for name, value in (("actor", actor), ("reason", reason)):
            if not isinstance(value, str) or not value.strip():
                raise ConfigurationError(f"a reset needs a non-empty {name}")
        self._store.reset(user_id)
        self._emit(EventType.RESET, user_id, actor=actor, reason=reason)

    def disable(self, user_id: str) -> NoReturn:
        """Always raises: MFA cannot be disabled once enabled (a reset forces re-enrolment).

        Raises:
            PolicyError: always.
        """
        user_id = _user(user_id)
        self._emit(EventType.DISABLE_REFUSED, user_id)
        raise PolicyError("MFA cannot be disabled; support can reset it, which requires enrolling again")

    def rotate_keys(self) -> int:
        """Re-seal every secret not sealed under the key ring's current key; return how many.

        Safe to run while users log in: each re-seal is a compare-and-set on the old blob.

        Raises:
            ConfigurationError: a secret is sealed under a key missing from the ring.
            StoreError: the store failed, or a sealed secret failed authentication.
        """
        count = 0
        for user_id in self._store.stale_keys(self._keyring.current):
            record = self._store.load(user_id)
            if record is None:
                continue
            fresh = self._keyring.reseal(record.sealed_secret, user_id=user_id)
            if self._store.reseal(
                user_id, old=record.sealed_secret, new=fresh, key_id=self._keyring.current, now=self._clock()
            ):
                count += 1
                self._emit(EventType.KEY_ROTATED, user_id)
        return count

    # -- internals ---------------------------------------------------------------------

    def _otp(self, record: UserRecord) -> TOTP:
        secret = Secret(self._keyring.unseal(record.sealed_secret, user_id=record.user_id))
        return TOTP(secret, digits=record.digits, period=record.period, algorithm=Algorithm[record.algorithm])

    def _accept_app_code(self, record: UserRecord, code: str, now: float) -> int:
        """Verify an app code and record its step atomically; return the offset.

        Raises:
            MalformedCode, InvalidCode, ReplayedCode: not accepted (ReplayedCode also when
                a concurrent request recorded this step first).
        """
        match = self._otp(record).verify(
            code, at=now, window=self._policy.window, drift=record.drift, last_step=record.last_step
        )
        # Ordinary logins never push |drift| beyond the policy bound, or beyond what an
        # explicit resync established: accepted codes cannot walk the window away.
        bound = max(self._policy.max_drift, abs(record.drift))
        drift = max(-bound, min(bound, match.offset))
        if not self._store.accept_step(record.user_id, step=match.step, drift=drift, now=now):
            raise ReplayedCode(match.step)
        return match.offset

    def _accept_recovery_code(self, record: UserRecord, code: str, now: float) -> int:
        """Match a recovery code (one KDF evaluation) and consume it atomically; return codes left.

        Raises:
            MalformedCode, InvalidCode: not a recovery code, or no unused code matched.
            ReplayedCode: a concurrent request consumed it first (carries the code's index).
        """
        found = recovery.match_code(
            code, record.recovery_params or "", record.recovery, context=_context(record.user_id)
        )
        left = self._store.consume_recovery(record.user_id, index=found.index, digest=found.digest, now=now)
        if left is None:
            raise ReplayedCode(found.index)
        return left

    def _claim(self, event: EventType, user_id: str, now: float) -> UserRecord | LoginResult:
        """Count the attempt in the store; return the record to evaluate, or the refusal (audited)."""
        claim = self._store.claim_attempt(user_id, now=now, throttle=self._policy.throttle)
        if claim.result is ClaimResult.NOT_ENROLLED or (
            claim.record is not None and claim.record.status is Status.PENDING
        ):
            refused = LoginResult(Outcome.NOT_ENROLLED)
        elif claim.result is ClaimResult.LOCKED:
            refused = LoginResult(Outcome.LOCKED)
        elif claim.result is ClaimResult.THROTTLED:
            refused = LoginResult(Outcome.THROTTLED, retry_after=claim.retry_after)
        else:
            return _claimed(claim, Status.ENABLED)
        return self._login_result(event, user_id, refused)

    def _failed(
        self, event: EventType, user_id: str, error: Exception, method: Method | None, now: float
    ) -> LoginResult:
        outcome = _outcome_of(error)
        if self._store.lock_if_exhausted(user_id, throttle=self._policy.throttle, now=now):
            outcome = Outcome.LOCKED  # this failure reached the lockout ceiling
        return self._login_result(event, user_id, LoginResult(outcome, method))

    def _login_result(
        self, event: EventType, user_id: str, result: LoginResult, offset: int | None = None
    ) -> LoginResult:
        self._emit(
            event,
            user_id,
            outcome=result.outcome,
            method=result.method,
            offset=offset,
            recovery_codes_left=result.recovery_codes_left,
        )
        return result

    def _emit(
        self,
        event: EventType,
        user_id: str,
        *,
        outcome: Outcome | None = None,
        method: Method | None = None,
        offset: int | None = None,
        recovery_codes_left: int | None = None,
        actor: str | None = None,
        reason: str | None = None,
    ) -> None:
        self._audit(
            AuditEvent(
                event, user_id, self._clock(), outcome, method, offset, recovery_codes_left, actor, reason
            )
        )


def _user(user_id: object) -> str:
    if not isinstance(user_id, str) or not user_id:
        raise ConfigurationError("user_id must be a non-empty str")
    return user_id


def _context(user_id: str) -> bytes:
    return user_id.encode("utf-8")


def _claimed(claim: Claim, status: Status) -> UserRecord:
    """The record of a CLAIMED attempt in *status*; anything else means the state moved on."""
    if claim.result is not ClaimResult.CLAIMED or claim.record is None or claim.record.status is not status:
        raise EnrollmentError(
            f"the user's MFA state changed during the attempt (expected {status.name}); retry"
        )
    return claim.record


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


def _log_event(event: AuditEvent) -> None:
    """The default audit sink: one INFO record on the ``totpcore.audit`` logger."""
    logging.getLogger(AUDIT_LOGGER).info("%s", event.describe(), extra={"totpcore_event": event})
