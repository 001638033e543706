"""The exception tree of totpcore (``docs/design.md``, "Errors"), and the outcomes they carry.

Every exception raised on purpose by totpcore derives from :class:`TotpcoreError`.
Messages are written for the developer who has to act on them and never contain a
secret, a base32 secret, an ``otpauth://`` URI, a code or a recovery code.
"""

from __future__ import annotations

import enum

__all__ = [
    "ConfigurationError",
    "EnrollmentError",
    "InvalidCode",
    "MalformedCode",
    "Outcome",
    "PolicyError",
    "RecordError",
    "ReplayedCode",
    "SecretError",
    "StoreError",
    "TotpcoreError",
    "UriError",
    "VerificationError",
]


class Outcome(enum.Enum):
    """What happened to one attempt. Show the end user one generic message for all but ACCEPTED.

    Defined here, beside :class:`PolicyError`, which carries one; the service layer
    re-exports it (``totpcore.Outcome``).
    """

    ACCEPTED = "accepted"
    INVALID = "invalid"  # well formed, wrong
    MALFORMED = "malformed"  # neither an app code nor a recovery code
    REPLAYED = "replayed"  # an app code for a step already accepted, or a code that a
    # concurrent request used first (a recovery code used earlier is simply INVALID:
    # used codes are deleted, so they match nothing)
    THROTTLED = "throttled"  # too soon after failures: retry_after says when
    LOCKED = "locked"  # too many consecutive failures: a support reset is needed
    NOT_ENROLLED = "not_enrolled"  # no confirmed MFA for this user
    BUSY = "busy"  # the server is checking too many recovery codes at once: not counted


class TotpcoreError(Exception):
    """Base class of every totpcore error; never raised itself."""


class ConfigurationError(TotpcoreError, ValueError):
    """A parameter is out of range: digits, period, window, time, counter or policy."""


class SecretError(TotpcoreError, ValueError):
    """A secret is malformed (bad base32) or too short."""


class UriError(TotpcoreError, ValueError):
    """An ``otpauth://`` URI is malformed, unsupported or cannot be built."""


class VerificationError(TotpcoreError):
    """A code was not accepted. Show the end user one generic message for every subclass."""


class MalformedCode(VerificationError):
    """The input is not a well-formed code (wrong length, non-ASCII digits, other characters)."""


class InvalidCode(VerificationError):
    """The code is well formed but matches no step (or counter) that was searched."""


class ReplayedCode(VerificationError):
    """The code matched, but only a step at or before the last accepted one (RFC 6238 §5.2).

    Attributes:
        step: the matched step (or HOTP counter). It is not secret; the code is never kept.
    """

    def __init__(self, step: int) -> None:
        super().__init__(f"code already used: it matches step {step}, at or before the last accepted step")
        self.step = step


class EnrollmentError(TotpcoreError):
    """The user is in the wrong state for the operation (for example confirm without begin)."""


class PolicyError(TotpcoreError):
    """The operation is forbidden by policy: throttled, locked, busy, or never allowed.

    Attributes:
        outcome: THROTTLED (wait ``retry_after``), LOCKED (only a support reset helps),
            BUSY (the server is overloaded with recovery-code checks; retry shortly), or
            ``None`` for an operation that is never allowed (disabling MFA).
        retry_after: seconds before a new attempt can succeed; 0.0 when locked or never.
    """

    def __init__(self, message: str, *, outcome: Outcome | None = None, retry_after: float = 0.0) -> None:
        super().__init__(message)
        self.outcome = outcome
        self.retry_after = retry_after


class StoreError(TotpcoreError):
    """Persistence failed. Callers must fail closed: no success is ever reported after it."""


class RecordError(StoreError):
    """A stored row cannot be trusted: altered, corrupt, or sealed under a key not in the ring.

    Raised before anything is written: the operation that met the row changed nothing.
    The message names the column (never its value).
    """
