"""The store contract: per-user MFA records and the atomic operations the flow rests on.

Every method that changes state is **one atomic operation** (a single SQL statement or
one transaction; a lock in memory). None of them is a read-check-write in Python: the
condition a security property rests on (``step > last_step``, "still pending", "code
unused", "not throttled", "the enrolment that was claimed") is checked by the same
operation that writes. A method that cannot reach the database raises
:class:`~totpcore.errors.StoreError`; it never reports success it did not achieve.

The same contract exists twice, as :class:`Store` (blocking) and :class:`AsyncStore`
(coroutines); the rules live once, in :func:`decide_claim` and the shared SQL.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Final, Protocol

from totpcore.throttle import Throttle

__all__ = [
    "APP_COLUMNS",
    "RECOVERY_COLUMNS",
    "SCHEMA_VERSION",
    "AsyncStore",
    "Claim",
    "ClaimResult",
    "Status",
    "Store",
    "UserRecord",
    "decide_claim",
    "wait_before",
]

#: Bumped whenever the tables change; recorded by create_schema(). Version 2 added
#: ``enrollment_id``.
SCHEMA_VERSION = 2

#: The columns an app code needs; damage to them stops app codes only.
APP_COLUMNS: Final = frozenset(
    {"sealed_secret", "key_id", "digits", "period", "algorithm", "last_step", "drift"}
)
#: The columns a recovery code needs; damage to them stops recovery codes only.
RECOVERY_COLUMNS: Final = frozenset({"recovery_params", "recovery"})


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
        enrollment_id: a random id given by :meth:`Store.begin` to each enrolment. Every
            write after a claim names it, so a write meant for one enrolment can never
            land on the next one (after a reset and a new enrolment).
        recovery: the unused recovery codes as ``(index, digest)`` pairs.
        next_attempt_at: Unix time, by the clock of the server that wrote it, before
            which attempts are refused (0.0: none). See :func:`wait_before`.
        damaged: columns the store could not read (wrong type or value). Their fields
            hold neutral placeholders; the service refuses to use them
            (:class:`~totpcore.errors.RecordError`) but the other factor keeps working.
    """

    user_id: str
    status: Status
    enrollment_id: str
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
    damaged: frozenset[str] = field(default=frozenset())

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
    NOT_ENROLLED = "not_enrolled"  # no record, or not in the status the attempt needs
    LOCKED = "locked"  # status LOCKED, or every allowed attempt is used up
    THROTTLED = "throttled"  # too soon after the last failure


@dataclass(frozen=True, slots=True)
class Claim:
    """The outcome of claiming an attempt, with the record as it was claimed."""

    result: ClaimResult
    record: UserRecord | None = None
    retry_after: float = 0.0  # seconds until the next attempt is allowed (THROTTLED)
    write: bool = False  # the store must write ``record`` back (status, failures, next_attempt_at)


def wait_before(record: UserRecord, *, now: float, throttle: Throttle) -> float:
    """Seconds a server whose clock reads *now* makes the user wait before the next attempt.

    ``next_attempt_at`` was written by whichever server counted the last failure, with
    that server's clock. However wrong that clock was, the wait is never longer than the
    policy gives for the current failure count, ``throttle.delay_after(failures)``, and
    free attempts impose none. (A deadline that lies further away is pulled back by
    :func:`decide_claim`, so a fast clock delays the user once by at most that much.)
    """
    return max(0.0, min(record.next_attempt_at - now, throttle.delay_after(record.failures)))


def decide_claim(  # noqa: PLR0911 - one return per rule, in the documented order
    record: UserRecord | None,
    *,
    status: Status,
    now: float,
    throttle: Throttle,
    check: Callable[[UserRecord], None] | None = None,
) -> Claim:
    """The rule of :meth:`Store.claim_attempt`, applied to the record the store has locked.

    Pure: the store reads and locks the record, calls this, and writes back
    ``claim.record`` when ``claim.write`` is set, in the same transaction. In order:

    1. no record -> NOT_ENROLLED; status LOCKED -> LOCKED; another status than *status*
       -> NOT_ENROLLED.
    2. ``failures >= throttle.lockout`` -> LOCKED: that many attempts were already
       claimed without a success in between (some may still be in flight), so no
       further one is evaluated. An ENABLED record becomes LOCKED here; a PENDING one
       stays PENDING (its secret is burnt: the user begins again).
    3. a wait (:func:`wait_before`) -> THROTTLED; a deadline beyond the policy's is
       pulled back to ``now + delay`` and written.
    4. ``check(record)`` may raise (a record the caller cannot use): the store rolls
       back, nothing is written.
    5. otherwise CLAIMED: ``failures + 1`` and ``next_attempt_at = now + delay``.

    Raises:
        Whatever *check* raises.
    """
    if record is None:
        return Claim(ClaimResult.NOT_ENROLLED)
    if record.status is Status.LOCKED:
        return Claim(ClaimResult.LOCKED, record)
    if record.status is not status:
        return Claim(ClaimResult.NOT_ENROLLED, record)
    if throttle.locks_at(record.failures):
        if record.status is Status.ENABLED:
            return Claim(
                ClaimResult.LOCKED, replace(record, status=Status.LOCKED, updated_at=now), write=True
            )
        return Claim(ClaimResult.LOCKED, record)
    wait = wait_before(record, now=now, throttle=throttle)
    if wait > 0:
        if record.next_attempt_at - now > wait:  # written by a clock ahead of ours
            pulled = replace(record, next_attempt_at=now + wait, updated_at=now)
            return Claim(ClaimResult.THROTTLED, pulled, retry_after=wait, write=True)
        return Claim(ClaimResult.THROTTLED, record, retry_after=wait)
    if check is not None:
        check(record)
    failures = record.failures + 1
    claimed = replace(
        record, failures=failures, next_attempt_at=now + throttle.delay_after(failures), updated_at=now
    )
    return Claim(ClaimResult.CLAIMED, claimed, write=True)


class Store(Protocol):
    """Persistence of MFA state. Implementations: MemoryStore, SQLiteStore, PostgresStore."""

    def create_schema(self) -> None:
        """Create the tables if missing (or upgrade older ones) and record :data:`SCHEMA_VERSION`."""

    def load(self, user_id: str) -> UserRecord | None:
        """Return the user's record, or ``None`` when there is none (status NONE)."""

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
        """Create or replace a PENDING record with a fresh secret, id and zeroed counters.

        Returns ``False``, changing nothing, when the user is ENABLED or LOCKED.
        """

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
        """PENDING -> ENABLED, only if still PENDING **with this enrolment**.

        In the same transaction: ``last_step = step`` (the confirming code is consumed),
        drift and failures zeroed, the recovery set stored with indexes 0.. in order.
        Returns ``False``, changing nothing, otherwise (a second tab began a new
        enrollment, or the user was confirmed or reset meanwhile).
        """

    def claim_attempt(
        self,
        user_id: str,
        *,
        status: Status,
        now: float,
        throttle: Throttle,
        check: Callable[[UserRecord], None] | None = None,
    ) -> Claim:
        """Count an attempt before it is evaluated, unless it must be refused (:func:`decide_claim`).

        One transaction with the user's row locked, so parallel guesses are counted one
        by one (AuthQuake) and the lockout ceiling holds exactly. A success then clears
        the count (:meth:`accept_step`, :meth:`consume_recovery`).
        """

    def lock_if_exhausted(self, user_id: str, *, enrollment_id: str, throttle: Throttle, now: float) -> bool:
        """ENABLED -> LOCKED if ``throttle.locks_at(failures)``, for this enrolment. Whether it locked now."""

    def accept_step(self, user_id: str, *, enrollment_id: str, step: int, drift: int, now: float) -> bool:
        """Record an accepted code: for this ENABLED enrolment, if ``last_step`` is NULL or ``< step``.

        Sets ``last_step = step``, ``drift``, ``failures = 0``, ``next_attempt_at = 0``.
        Returns ``False`` (a replay, possibly a concurrent one, or a reset) otherwise.
        """

    def consume_recovery(
        self, user_id: str, *, enrollment_id: str, index: int, digest: bytes, now: float
    ) -> int | None:
        """Use the unused recovery code ``(index, digest)`` of this ENABLED enrolment, once.

        In one transaction: the code is deleted (row count must be 1), failures and
        next_attempt_at are cleared. Returns the number of codes left, or ``None`` when
        nothing was consumed (already used, concurrently or before, or a reset).
        """

    def replace_recovery(
        self, user_id: str, *, enrollment_id: str, recovery_params: str, digests: Sequence[bytes], now: float
    ) -> bool:
        """Replace the whole recovery set of this ENABLED enrolment. ``False`` otherwise."""

    def reseal(self, user_id: str, *, old: bytes, new: bytes, key_id: str, now: float) -> bool:
        """Swap the sealed secret (key rotation), only if it is still *old*."""

    def reseal_recovery(
        self,
        user_id: str,
        *,
        old_params: str,
        new_params: str,
        digests: Sequence[tuple[int, bytes, bytes]],
        now: float,
    ) -> bool:
        """Rewrite the stored recovery digests ``(index, old, new)``, only if the set is still *old_params*.

        One transaction; a code consumed meanwhile stays consumed. Returns whether anything
        changed: ``False`` when the set was replaced or the user reset meanwhile, or when
        another rotation did the same work first.
        """

    def stale_keys(self, current_key_id: str) -> list[str]:
        """Return the users sealed under another key than *current_key_id*, or with unsealed digests."""

    def reset(self, user_id: str) -> bool:
        """Delete everything about the user (back to NONE). Returns whether a record existed."""

    def close(self) -> None:
        """Release connections. The store is unusable afterwards."""


class AsyncStore(Protocol):
    """:class:`Store` as coroutines, for :class:`~totpcore.AsyncMfaService`. Same rules, same results."""

    async def create_schema(self) -> None:
        """See :meth:`Store.create_schema`."""

    async def load(self, user_id: str) -> UserRecord | None:
        """See :meth:`Store.load`."""

    async def begin(
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
        """See :meth:`Store.begin`."""

    async def activate(
        self,
        user_id: str,
        *,
        enrollment_id: str,
        step: int,
        recovery_params: str,
        digests: Sequence[bytes],
        now: float,
    ) -> bool:
        """See :meth:`Store.activate`."""

    async def claim_attempt(
        self,
        user_id: str,
        *,
        status: Status,
        now: float,
        throttle: Throttle,
        check: Callable[[UserRecord], None] | None = None,
    ) -> Claim:
        """See :meth:`Store.claim_attempt`."""

    async def lock_if_exhausted(
        self, user_id: str, *, enrollment_id: str, throttle: Throttle, now: float
    ) -> bool:
        """See :meth:`Store.lock_if_exhausted`."""

    async def accept_step(
        self, user_id: str, *, enrollment_id: str, step: int, drift: int, now: float
    ) -> bool:
        """See :meth:`Store.accept_step`."""

    async def consume_recovery(
        self, user_id: str, *, enrollment_id: str, index: int, digest: bytes, now: float
    ) -> int | None:
        """See :meth:`Store.consume_recovery`."""

    async def replace_recovery(
        self, user_id: str, *, enrollment_id: str, recovery_params: str, digests: Sequence[bytes], now: float
    ) -> bool:
        """See :meth:`Store.replace_recovery`."""

    async def reseal(self, user_id: str, *, old: bytes, new: bytes, key_id: str, now: float) -> bool:
        """See :meth:`Store.reseal`."""

    async def reseal_recovery(
        self,
        user_id: str,
        *,
        old_params: str,
        new_params: str,
        digests: Sequence[tuple[int, bytes, bytes]],
        now: float,
    ) -> bool:
        """See :meth:`Store.reseal_recovery`."""

    async def stale_keys(self, current_key_id: str) -> list[str]:
        """See :meth:`Store.stale_keys`."""

    async def reset(self, user_id: str) -> bool:
        """See :meth:`Store.reset`."""

    async def close(self) -> None:
        """See :meth:`Store.close`."""
