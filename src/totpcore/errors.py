"""The exception tree of totpcore (``docs/design.md``, "Errors").

Every exception raised on purpose by totpcore derives from :class:`TotpcoreError`.
Messages are written for the developer who has to act on them and never contain a
secret, a base32 secret, an ``otpauth://`` URI, a code or a recovery code.
"""

from __future__ import annotations

__all__ = [
    "ConfigurationError",
    "EnrollmentError",
    "InvalidCode",
    "MalformedCode",
    "PolicyError",
    "ReplayedCode",
    "SecretError",
    "StoreError",
    "TotpcoreError",
    "UriError",
    "VerificationError",
]


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
    """The operation is forbidden by policy (for example disabling MFA once enabled)."""


class StoreError(TotpcoreError):
    """Persistence failed. Callers must fail closed: no success is ever reported after it."""
