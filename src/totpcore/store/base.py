"""The store contract: per-user MFA records and the atomic operations the flow rests on.

Every method that changes state is **one atomic operation** (a single SQL statement or
one transaction; a lock in memory). None of them is a read-check-write in Python: the
condition a security property rests on (``step > last_step``, "still pending", "code
unused", "not throttled") is checked by the same operation that writes. A method that
cannot reach the database raises :class:`~totpcore.errors.StoreError`; it never reports
success it did not achieve.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Protocol

from totpcore.throttle import Throttle

__all__ = ["SCHEMA_VERSION", "Claim", "ClaimResult", "Status", "Store", "UserRecord", "decide_claim"]

#: Bumped whenever the tables change; recorded by create_schema().
SCHEMA_VERSION = 1


class Status(enum.Enum):
    """Where a user stands with MFA."""

    NONE = "none"  # never enrolled, or reset by support (no record)
    PENDING = "pending"  # a secret was issued, not yet confirmed with a code
    ENABLED = "enabled"  # confirmed: every login needs a code or a recovery code
    LOCKED = "locked"  # too many consecutive failures: only a support reset helps


@dataclass(frozen=True, slots=True)
class UserRecord:
    """A snapshot of one user's MFA state. Holds the sealed secret, never a plain one.

    Attributes:
        recovery: the unused recovery codes as ``(index, digest)`` pairs.
        next_attempt_at: Unix time before which attempts are refused (0.0: none).
    """

    user_id: str
    status: Status
    sealed_secret: bytes
    key_id: str
    digits: int
    period: int
    algorithm: str
    last_step: int | None
    drift: int
    failures: int
    next_attempt_at: float
    recovery_params: str | None
    recovery: tuple[tuple[int, bytes], ...]
    created_at: float
    updated_at: float
    enabled_at: float | None

    def __repr__(self) -> str:
        # The sealed secret is useless without the key, but logs are no place for it.
        return (
            f"UserRecord(user_id={self.user_id!r}, status={self.status.name}, key_id={self.key_id!r}, "
            f"last_step={self.last_step}, drift={self.drift}, failures={self.failures}, "
            f"recovery_left={len(self.recovery)})"
        )


class ClaimResult(enum.Enum):
    """The answer of :meth:`Store.claim_attempt`."""

    CLAIMED = "claimed"  # the attempt may be evaluated; it is already counted as a failure
    NOT_ENROLLED = "not_enrolled"  # no record
    LOCKED = "locked"  # status LOCKED
    THROTTLED = "throttled"  # now < next_attempt_at


@dataclass(frozen=True, slots=True)
class Claim:
    """The outcome of claiming an attempt, with the record as it was claimed."""

    result: ClaimResult
    record: UserRecord | None = None
    retry_after: float = 0.0  # seconds until the next attempt is allowed (THROTTLED)


def decide_claim(record: UserRecord | None, *, now: float, throttle: Throttle) -> Claim:
    """The rule of :meth:`Store.claim_attempt`, applied to the record the store has locked.

    Pure: the store reads the record and writes back the claimed one, in one atomic step.
    """
    if record is None:
        return Claim(ClaimResult.NOT_ENROLLED)
    if record.status is Status.LOCKED:
        return Claim(ClaimResult.LOCKED, record)
    if now < record.next_attempt_at:
        return Claim(ClaimResult.THROTTLED, record, retry_after=record.next_attempt_at - now)
    failures = record.failures + 1
    claimed = replace(
        record, failures=failures, next_attempt_at=now + throttle.delay_after(failures), updated_at=float(now)
    )
    return Claim(ClaimResult.CLAIMED, claimed)


class Store(Protocol):
    """Persistence of MFA state. Implementations: MemoryStore, SQLiteStore, PostgresStore."""

    def create_schema(self) -> None:
        """Create the tables if missing and record :data:`SCHEMA_VERSION`. Idempotent."""

    def load(self, user_id: str) -> UserRecord | None:
        """Return the user's record, or ``None`` when there is none (status NONE)."""

    def begin(
        self,
        user_id: str,
        *,
        sealed_secret: bytes,
        key_id: str,
        digits: int,
        period: int,
        algorithm: str,
        now: float,
    ) -> bool:
        """Create or replace a PENDING record with a fresh secret and zeroed counters.

        Returns ``False``, changing nothing, when the user is ENABLED or LOCKED.
        """

    def activate(
        self,
        user_id: str,
        *,
        sealed_secret: bytes,
        step: int,
        recovery_params: str,
        digests: Sequence[bytes],
        now: float,
    ) -> bool:
        """PENDING -> ENABLED, only if still PENDING **with this sealed secret**.

        In the same transaction: ``last_step = step`` (the confirming code is consumed),
        drift and failures zeroed, the recovery set stored with indexes 0.. in order.
        Returns ``False``, changing nothing, otherwise (a second tab began a new
        enrollment, or the user was confirmed or reset meanwhile).
        """

    def claim_attempt(self, user_id: str, *, now: float, throttle: Throttle) -> Claim:
        """Count an attempt before it is evaluated, unless it must be refused.

        Atomically: no record -> NOT_ENROLLED; LOCKED -> LOCKED; ``now <
        next_attempt_at`` -> THROTTLED with ``retry_after``; otherwise ``failures += 1``
        and ``next_attempt_at = now + throttle.delay_after(failures)``, returning
        CLAIMED and the updated record. Counting first means parallel guesses cannot
        all slip through before the first failure is recorded (AuthQuake). A success
        then clears the count (:meth:`accept_step`, :meth:`consume_recovery`).
        """

    def lock_if_exhausted(self, user_id: str, *, throttle: Throttle, now: float) -> bool:
        """ENABLED -> LOCKED if ``throttle.locks_at(failures)``. Returns whether it locked now."""

    def accept_step(self, user_id: str, *, step: int, drift: int, now: float) -> bool:
        """Record an accepted code: only if ENABLED and ``last_step`` is NULL or ``< step``.

        Sets ``last_step = step``, ``drift``, ``failures = 0``, ``next_attempt_at = 0``.
        Returns ``False`` (a replay, possibly a concurrent one) otherwise.
        """

    def consume_recovery(self, user_id: str, *, index: int, digest: bytes, now: float) -> int | None:
        """Use the unused recovery code ``(index, digest)`` of an ENABLED user, once.

        In one transaction: the code is deleted (row count must be 1), failures and
        next_attempt_at are cleared. Returns the number of codes left, or ``None`` when
        nothing was consumed (already used, concurrently or before).
        """

    def replace_recovery(
        self, user_id: str, *, recovery_params: str, digests: Sequence[bytes], now: float
    ) -> bool:
        """Replace the whole recovery set of an ENABLED user. ``False`` if not ENABLED."""

    def reseal(self, user_id: str, *, old: bytes, new: bytes, key_id: str, now: float) -> bool:
        """Swap the sealed secret (key rotation), only if it is still *old*."""

    def stale_keys(self, current_key_id: str) -> list[str]:
        """Return the users whose secret is sealed under another key than *current_key_id*."""

    def reset(self, user_id: str) -> bool:
        """Delete everything about the user (back to NONE). Returns whether a record existed."""

    def close(self) -> None:
        """Release connections. The store is unusable afterwards."""
