"""MemoryStore: the Store contract in a dict, for tests and single-process tools.

One lock serialises every operation, which makes each of them atomic. Nothing survives
the process, and other processes see nothing: never use it behind more than one worker.
"""

from __future__ import annotations

import hmac
import threading
from collections.abc import Callable, Sequence
from dataclasses import replace

from totpcore import recovery
from totpcore._checks import check_counter
from totpcore.errors import StoreError
from totpcore.store.base import SCHEMA_VERSION, Claim, Status, UserRecord, decide_claim
from totpcore.throttle import Throttle

__all__ = ["MemoryStore"]


class MemoryStore:
    """MFA state in memory, guarded by one lock. Passes the same contract suite as the SQL stores."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._users: dict[str, UserRecord] = {}
        self._closed = False
        self.schema_version: int | None = None

    def __repr__(self) -> str:
        return f"MemoryStore(<{len(self._users)} users>)"

    def _open(self) -> dict[str, UserRecord]:
        if self._closed:
            raise StoreError("the store is closed")
        return self._users

    def _enrolled(self, user_id: str, enrollment_id: str) -> UserRecord | None:
        """The user's record if it is this ENABLED enrolment (the caller holds the lock)."""
        current = self._open().get(user_id)
        if current is None or current.status is not Status.ENABLED or current.enrollment_id != enrollment_id:
            return None
        return current

    def create_schema(self) -> None:
        """Record :data:`SCHEMA_VERSION` (there are no tables). Idempotent."""
        with self._lock:
            self._open()
            self.schema_version = SCHEMA_VERSION

    def load(self, user_id: str) -> UserRecord | None:
        """Return the user's record, or ``None`` when there is none."""
        with self._lock:
            return self._open().get(user_id)

    def begin(
        self,
        user_id: str,
        *,
        enrollment_id: str,
        sealed_secret: bytes,
        key_id: str,
        digits: int,
        period: int,
        algorithm: str,
        now: float,
    ) -> bool:
        """Create or replace a PENDING record; ``False`` when ENABLED or LOCKED."""
        with self._lock:
            users = self._open()
            current = users.get(user_id)
            if current is not None and current.status is not Status.PENDING:
                return False
            users[user_id] = UserRecord(
                user_id=user_id,
                status=Status.PENDING,
                enrollment_id=enrollment_id,
                sealed_secret=bytes(sealed_secret),
                key_id=key_id,
                digits=digits,
                period=period,
                algorithm=algorithm,
                last_step=None,
                drift=0,
                failures=0,
                next_attempt_at=0.0,
                recovery_params=None,
                recovery=(),
                created_at=float(now),
                updated_at=float(now),
                enabled_at=None,
            )
            return True

    def activate(
        self,
        user_id: str,
        *,
        enrollment_id: str,
        step: int,
        recovery_params: str,
        digests: Sequence[bytes],
        now: float,
    ) -> bool:
        """PENDING -> ENABLED, only if still PENDING with this enrolment.

        Raises:
            ConfigurationError: *step* is outside 0 to 2**64 - 1.
        """
        check_counter(step, "step")
        with self._lock:
            users = self._open()
            current = users.get(user_id)
            if (
                current is None
                or current.status is not Status.PENDING
                or current.enrollment_id != enrollment_id
            ):
                return False
            users[user_id] = replace(
                current,
                status=Status.ENABLED,
                last_step=step,
                drift=0,
                failures=0,
                next_attempt_at=0.0,
                recovery_params=recovery_params,
                recovery=_indexed(digests),
                updated_at=float(now),
                enabled_at=float(now),
            )
            return True

    def claim_attempt(
        self,
        user_id: str,
        *,
        status: Status,
        now: float,
        throttle: Throttle,
        check: Callable[[UserRecord], None] | None = None,
    ) -> Claim:
        """Count an attempt before it is evaluated, unless it must be refused (``decide_claim``)."""
        with self._lock:
            users = self._open()
            claim = decide_claim(users.get(user_id), status=status, now=now, throttle=throttle, check=check)
            if claim.write and claim.record is not None:
                users[user_id] = claim.record
            return claim

    def lock_if_exhausted(self, user_id: str, *, enrollment_id: str, throttle: Throttle, now: float) -> bool:
        """ENABLED -> LOCKED if ``throttle.locks_at(failures)``, for this enrolment."""
        with self._lock:
            current = self._enrolled(user_id, enrollment_id)
            if current is None or not throttle.locks_at(current.failures):
                return False
            self._users[user_id] = replace(current, status=Status.LOCKED, updated_at=float(now))
            return True

    def accept_step(self, user_id: str, *, enrollment_id: str, step: int, drift: int, now: float) -> bool:
        """Record an accepted step of this ENABLED enrolment if later than ``last_step``.

        Raises:
            ConfigurationError: *step* is outside 0 to 2**64 - 1.
        """
        check_counter(step, "step")
        with self._lock:
            current = self._enrolled(user_id, enrollment_id)
            if current is None or (current.last_step is not None and current.last_step >= step):
                return False
            self._users[user_id] = replace(
                current, last_step=step, drift=drift, failures=0, next_attempt_at=0.0, updated_at=float(now)
            )
            return True

    def consume_recovery(
        self, user_id: str, *, enrollment_id: str, index: int, digest: bytes, now: float
    ) -> int | None:
        """Delete the unused recovery code ``(index, digest)`` of this ENABLED enrolment, once."""
        with self._lock:
            current = self._enrolled(user_id, enrollment_id)
            if current is None:
                return None
            left = tuple(
                (i, d) for i, d in current.recovery if not (i == index and hmac.compare_digest(d, digest))
            )
            if len(left) == len(current.recovery):
                return None
            self._users[user_id] = replace(
                current, recovery=left, failures=0, next_attempt_at=0.0, updated_at=float(now)
            )
            return len(left)

    def replace_recovery(
        self, user_id: str, *, enrollment_id: str, recovery_params: str, digests: Sequence[bytes], now: float
    ) -> bool:
        """Replace the whole recovery set of this ENABLED enrolment. ``False`` otherwise."""
        with self._lock:
            current = self._enrolled(user_id, enrollment_id)
            if current is None:
                return False
            self._users[user_id] = replace(
                current, recovery_params=recovery_params, recovery=_indexed(digests), updated_at=float(now)
            )
            return True

    def reseal(self, user_id: str, *, old: bytes, new: bytes, key_id: str, now: float) -> bool:
        """Swap the sealed secret, only if it is still *old*."""
        with self._lock:
            users = self._open()
            current = users.get(user_id)
            if current is None or not hmac.compare_digest(current.sealed_secret, old):
                return False
            users[user_id] = replace(current, sealed_secret=bytes(new), key_id=key_id, updated_at=float(now))
            return True

    def reseal_recovery(
        self,
        user_id: str,
        *,
        old_params: str,
        new_params: str,
        digests: Sequence[tuple[int, bytes, bytes]],
        now: float,
    ) -> bool:
        """Rewrite the stored digests if the set is still *old_params*; used codes stay used.

        Returns whether anything changed (the parameters, or at least one digest).
        """
        with self._lock:
            users = self._open()
            current = users.get(user_id)
            if current is None or current.recovery_params != old_params:
                return False
            swaps = {(index, old): new for index, old, new in digests}
            kept = tuple((index, swaps.get((index, digest), digest)) for index, digest in current.recovery)
            users[user_id] = replace(
                current, recovery_params=new_params, recovery=kept, updated_at=float(now)
            )
            return old_params != new_params or kept != current.recovery

    def stale_keys(self, current_key_id: str) -> list[str]:
        """Return the users to re-seal under *current_key_id*, sorted."""
        with self._lock:
            return sorted(
                user
                for user, record in self._open().items()
                if record.key_id != current_key_id
                or (record.recovery_params or "").startswith(recovery.UNSEALED_PREFIX)
            )

    def reset(self, user_id: str) -> bool:
        """Delete everything about the user. Returns whether a record existed."""
        with self._lock:
            return self._open().pop(user_id, None) is not None

    def close(self) -> None:
        """Forget everything. The store is unusable afterwards."""
        with self._lock:
            self._closed = True
            self._users = {}


def _indexed(digests: Sequence[bytes]) -> tuple[tuple[int, bytes], ...]:
    """A new recovery set as stored: code *i* of the generated set is ``(i, digest)``."""
    return tuple((index, bytes(digest)) for index, digest in enumerate(digests))
