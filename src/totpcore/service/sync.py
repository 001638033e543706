"""MfaService: the MFA flow over a blocking store (``docs/integration.md``).

Every method runs one flow of ``_flow.Core`` with blocking calls: the store is called
in place; once the process-wide gate admits it, Argon2id runs in one of the gate's
threads while the calling thread waits (so its memory stays in a bounded set of threads).
Every state change the flow relies on is one atomic store operation, so two app servers
handling the same user at the same moment cannot both accept one code, both use one
recovery code, or slip past the throttle together.
"""

from __future__ import annotations

import functools
import inspect
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, NoReturn, TypeVar

from totpcore._drive import drive
from totpcore.sealing import KeyRing
from totpcore.service._face import Face
from totpcore.service._flow import Call, Compute, Flow, Op, Release, Reserve, Slot
from totpcore.service.model import (
    AuditEvent,
    Enrollment,
    KeyRotation,
    LoginResult,
    MfaState,
    Policy,
    Requirement,
)
from totpcore.store.base import Status, Store

if TYPE_CHECKING:
    from typing_extensions import Self

__all__ = ["MfaService"]

T = TypeVar("T")


class MfaService(Face):
    """The MFA flow for one application, over one blocking store.

    Build it with :func:`totpcore.open_service`, or from parts::

        MfaService(store, issuer="Outsmart EMR", keyring=keyring, audit=audit_log.append)

    Args:
        store: where state lives (``MemoryStore``, ``SQLiteStore``, ``PostgresStore``).
            The service owns it: :meth:`close` closes it.
        issuer, keyring, policy, clock, audit: see :class:`~totpcore.service._face.Face`;
            *audit* must be a plain callable here (an async one needs AsyncMfaService).

    Raises:
        TypeError, ConfigurationError: bad arguments, or the default audit sink would
            lose events (configure logging, or pass *audit*).
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
        if inspect.iscoroutinefunction(getattr(store, "load", None)):
            raise TypeError("this is an async store: use AsyncMfaService (or open_async_service)")
        if inspect.iscoroutinefunction(audit):
            raise TypeError("an async audit sink needs AsyncMfaService")
        super().__init__(issuer=issuer, keyring=keyring, policy=policy, clock=clock, audit=audit)
        self._store = store

    def __repr__(self) -> str:
        return f"MfaService({self._store!r}, issuer={self._core.issuer!r})"

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the store. The service is unusable afterwards."""
        self._store.close()

    def _run(self, flow: Flow[T]) -> T:
        slot = Slot(self._gate)
        try:
            return drive(flow, functools.partial(self._step, slot))
        finally:
            slot.release()

    def _step(self, slot: Slot, op: Op) -> object:
        """Perform one operation of a flow: blocking store call, Argon2id in a gate thread (waited for)."""
        if isinstance(op, Call):
            return getattr(self._store, op.method)(*op.args, **op.kwargs)
        if isinstance(op, Compute):
            return self._gate.call(op.work)
        if isinstance(op, Reserve):
            slot.held = self._gate.acquire(self._core.policy.kdf_wait)
            return slot.held
        if isinstance(op, Release):
            slot.release()
        else:
            self._audit(op.event)
        return None

    # -- state -------------------------------------------------------------------------

    def status(self, user_id: str) -> Status:
        """Return NONE, PENDING, ENABLED or LOCKED.

        Raises:
            ConfigurationError: a malformed *user_id* (:func:`~totpcore.service.model.check_user_id`).
            StoreError: the store failed, or the user's row cannot be read (RecordError).
        """
        return self.state(user_id).status

    def requirement(self, user_id: str) -> Requirement:
        """What the user needs after the password: NONE, ENROLL, CODE or SUPPORT.

        NONE: no MFA and not mandatory (let in; offer enrolment). ENROLL: MFA is
        mandatory (``policy.mandatory_from`` has passed) and not enabled, a pending
        enrolment included: send the user to enrolment and nowhere else. CODE: ask for
        an app code or a recovery code. SUPPORT: locked; only a support reset helps.

        Raises:
            ConfigurationError, StoreError: as :meth:`status`.
        """
        return self.state(user_id).requirement

    def state(self, user_id: str) -> MfaState:
        """Return the user's :class:`~totpcore.MfaState` (status, requirement, enabled_at, codes left, wait).

        Raises:
            ConfigurationError, StoreError: as :meth:`status`.
        """
        return self._run(self._core.state(user_id))

    # -- enrolment ---------------------------------------------------------------------

    def begin_enrollment(self, user_id: str, *, account: str) -> Enrollment:
        """Issue a fresh pending secret and return what the user scans.

        Each call replaces a previous pending secret (the last QR code shown wins). A
        user with MFA enabled or locked cannot begin again without a support reset.

        Args:
            user_id: the application's stable user id (bound into the sealed secret).
            account: the name the authenticator app shows, e.g. an e-mail address.

        Raises:
            ConfigurationError: a malformed *user_id*.
            EnrollmentError: MFA is already enabled (or locked) for this user.
            UriError: *account* cannot be put in a URI (it contains a colon).
            StoreError: the store failed.
        """
        return self._run(self._core.begin_enrollment(user_id, account))

    def confirm_enrollment(self, user_id: str, code: str) -> list[str]:
        """Confirm the pending secret with a code from the app; return the recovery codes.

        The confirming step is consumed: the same code cannot be used for the first login.
        The recovery codes are returned in plain text this once; only sealed hashes are kept.

        Raises:
            ConfigurationError: a malformed *user_id*.
            EnrollmentError: no pending enrolment, or it changed meanwhile (start again).
            MalformedCode, InvalidCode: the code is not accepted (the attempt is counted).
            PolicyError: THROTTLED (wait ``retry_after``), LOCKED (too many attempts on this
                enrolment: begin again) or BUSY (retry shortly; nothing was counted).
            StoreError: the store failed, or the pending row cannot be read.
        """
        return self._run(self._core.confirm_enrollment(user_id, code))

    # -- login -------------------------------------------------------------------------

    def verify(self, user_id: str, code: str) -> LoginResult:
        """Check the second factor: a code from the app **or** one recovery code.

        The attempt is counted against the user's throttle before anything is evaluated
        (so before any KDF runs), and cleared on success. An app code is accepted once
        (replay protection on the matched step); the drift it shows is learned within
        ``policy.max_drift``. A recovery code works once. Every attempt counts, even a
        malformed one, except one refused as BUSY (too many recovery-code checks at once
        in this process), which changes nothing.

        Raises:
            ConfigurationError: a malformed *user_id*, or the clock returned a time no
                correct server reports (nothing was written).
            StoreError: the store failed, or the factor's stored row cannot be read
                (RecordError; nothing was written): deny the login (fail closed).
        """
        return self._run(self._core.verify(user_id, code))

    def resync(self, user_id: str, codes: list[str] | tuple[str, ...]) -> LoginResult:
        """Log in with two to ten consecutive app codes from a phone whose clock is far off.

        Searches ``policy.resync_search`` steps either side of now; on success the
        drift becomes the phone's offset (beyond ``max_drift``: this is the explicit
        resynchronisation RFC 6238 §6 calls for) and the user is logged in. Anything
        but a list or tuple of at most ten str is MALFORMED before any work (and counted).

        Raises:
            ConfigurationError, StoreError: as :meth:`verify`.
        """
        return self._run(self._core.resync(user_id, codes))

    def regenerate_recovery_codes(self, user_id: str, code: str) -> list[str]:
        """Replace the whole recovery set, after a valid **app** code; return the new codes.

        The old codes stop working at once. A recovery code cannot authorise this.

        Raises:
            ConfigurationError: a malformed *user_id*.
            MalformedCode, InvalidCode, ReplayedCode: the app code was not accepted (the
                attempt counts against the throttle like a login).
            PolicyError: THROTTLED, LOCKED or BUSY (``outcome`` and ``retry_after`` say which).
            EnrollmentError: MFA is not enabled for this user.
            StoreError: the store failed, or the user's row cannot be read.
        """
        return self._run(self._core.regenerate_recovery_codes(user_id, code))

    # -- support -----------------------------------------------------------------------

    def reset(self, user_id: str, *, actor: str, reason: str) -> None:
        """Support action: wipe the user's MFA state; the user must enrol again.

        Verify the user's identity out of band first (OWASP ASVS 2.5.7): this bypasses
        the second factor by design. The RESET audit event is written **before** the
        wipe, so a sink that fails stops the reset with nothing changed; a reset of a
        user with no record says so (``outcome=NOT_ENROLLED``). Works on a row too
        damaged to read. Takes effect at once: an attempt in flight on another server
        can no longer be accepted (every write after a claim names the enrolment).

        Raises:
            ConfigurationError: a malformed *user_id*; an *actor* or *reason* that is
                empty, blank, too long, or (actor) holds a control character.
            StoreError: the store failed (the event was written; the reset did not happen).
        """
        self._run(self._core.reset(user_id, actor, reason))

    def disable(self, user_id: str) -> NoReturn:
        """Always raises: MFA cannot be disabled once enabled (a reset forces re-enrolment).

        Raises:
            PolicyError: always (``outcome`` is ``None``).
        """
        self._run(self._core.disable(user_id))
        raise AssertionError  # pragma: no cover - the flow always raises

    def rotate_keys(self) -> KeyRotation:
        """Re-seal every secret and recovery set not sealed under the key ring's current key.

        Also seals recovery digests stored before digests were sealed. Safe to run while
        users log in: each re-seal is a compare-and-set. A row that cannot be re-sealed
        (altered, or under a key missing from the ring) is left as it is and reported in
        ``skipped``; the rotation carries on past it.

        Raises:
            StoreError: the store failed.
        """
        return self._run(self._core.rotate_keys())
